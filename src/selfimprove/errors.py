"""The one exception type that the CLI turns into a clear message and exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input from the user: say what was wrong and what to do. Never shown with a traceback."""


def run_script(main: Callable[[], object]) -> None:
    """Run a script's `main` (the bench scripts, outside the CLI) the way the CLI runs a command: a `UserError`
    becomes one line on stderr and exit code 2."""
    try:
        main()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
