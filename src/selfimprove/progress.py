"""Progress bars for long work (rich), on stderr so stdout stays clean for results."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stderr = Console(stderr=True)
VERBOSE_ENV = "SELFIMPROVE_VERBOSE"  # "1": libraries keep their own logs and progress bars (`--verbose`)


def verbose() -> bool:
    """Whether the user asked for the libraries' own output (then ours does not replace theirs)."""
    return os.environ.get(VERBOSE_ENV) == "1"


@contextmanager
def progress_bar(label: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yield an `advance(k)` function; the bar is drawn only when enabled and stderr is a terminal."""
    if not enabled:
        yield lambda k: None
        return
    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=False) as progress:
        task = progress.add_task(label, total=total)
        yield lambda k: progress.advance(task, k)


class StepBar:
    """A bar for work driven from callbacks (the trainer's steps): `start`, then `advance` with an optional
    note (the last logged loss), then `stop`. Drawn on stderr with the other bars, transient=False."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.progress: Progress | None = None

    def start(self, total: int) -> None:
        columns = (TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TimeRemainingColumn())
        self.progress = Progress(*columns, console=stderr, transient=False)
        self.progress.start()
        self.task = self.progress.add_task(self.label, total=total, note="")

    def advance(self, k: int = 1, note: str | None = None) -> None:
        if self.progress is not None:
            self.progress.update(self.task, advance=k, **({"note": note} if note is not None else {}))

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
