"""What a person reads: terminal tables, the verdict, the HTML report."""
