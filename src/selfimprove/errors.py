"""The one exception type that the CLI turns into a clear message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: say what was wrong and what to do. Never shown with a traceback."""
