"""How a command line run ends: exit code 0 on success, 2 with one line on stderr for a usage error or bad
input, 130 with one line on Ctrl-C. Never a traceback for something the user can fix.

typer (0.29) carries its own copy of click, so its usage errors are `typer.TyperException`s, not the
separate `click` package's; and in `standalone_mode=False` it turns Ctrl-C into a *returned* 130. Both are
handled here, once, for every command of the app.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence

import typer
from rich.markup import escape

from selfimprove.errors import UserError
from selfimprove.progress import VERBOSE_ENV, stderr

INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command ended by Ctrl-C
RESUME_HINT = "interrupted; rerun the same command to resume"


def error_line(message: str) -> None:
    """The one error line (long messages may wrap, never a traceback)."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def usage_error(error: typer.TyperException) -> None:
    """A usage error as one line naming the command's help; a bare command (no arguments) shows its help."""
    ctx = getattr(error, "ctx", None)
    if type(error).__name__ == "NoArgsIsHelpError":  # typer has drawn the help already (it does the same test)
        help_text = error.format_message().strip()
        if help_text:
            print(help_text, file=sys.stderr)
        return
    command = ctx.command_path if ctx is not None else "selfimprove"
    error_line(f"{error.format_message()} (see `{command} --help`)")


def interrupted(command: str | None, resumable: Sequence[str]) -> None:
    message = RESUME_HINT if command in resumable else "interrupted; nothing was written"
    stderr.print(message, highlight=False)


def quiet_libraries(verbose: bool) -> None:
    """Library logs at warning level and their progress bars off, so our own progress display (stderr) stays
    readable; `--verbose` (or $SELFIMPROVE_VERBOSE=1) keeps everything. Called before any library is imported
    (commands import them lazily), and inherited by subprocesses through the environment."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        return
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # also transformers' loading/saving bars
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Deprecation notices about arguments the libraries pass to themselves: nothing a user can act on.
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in ("datasets", "transformers", "trl", "accelerate", "peft", "httpx", "httpx2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_app(app: typer.Typer, name: str, resumable: Sequence[str] = (), args: list[str] | None = None) -> None:
    """Run `app` on `args` (default sys.argv) and exit with the code the module docstring describes.
    `resumable` names the commands that resume where an interrupted run stopped."""
    args = sys.argv[1:] if args is None else args
    command = next((a for a in args if not a.startswith("-")), None)
    try:
        code = app(args=args, prog_name=name, standalone_mode=False)
    except UserError as e:
        error_line(str(e))
        sys.exit(2)
    except typer.TyperException as e:  # typer's own click: usage errors (exit_code 2) and the like
        usage_error(e)
        sys.exit(2)
    except OSError as e:  # a file or folder the user named cannot be read or written (permissions, disk full)
        if e.filename is None:
            raise
        error_line(f"{e.filename}: {e.strerror or e}; check the path and its permissions")
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):
        code = INTERRUPTED
    if code == INTERRUPTED:
        interrupted(command, resumable)
        sys.exit(INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
