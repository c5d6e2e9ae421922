"""What each CLI command does, apart from argument parsing (kept in cli.py)."""
