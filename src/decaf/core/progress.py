"""The one console and the one progress bar: on stderr, so stdout stays for results and JSON.

Every long job (training, Gatys iterations, folders, frames) shows the same :class:`Bar`; the
bar appears at its first update, so a job that fails its checks prints only its error. When
stderr is not a terminal (a log file, CI, a pipe) a redrawn bar would be invisible, so the bar
prints plain lines instead: at its first update, when its stage changes, every
:data:`PLAIN_EVERY` seconds and once at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

console = Console(stderr=True)
if not console.is_terminal:  # piped or logged: never cut lines to rich's 80-column default
    console = Console(stderr=True, width=10_000, soft_wrap=True)
PLAIN_EVERY = 10.0  # seconds between two plain progress lines in a log


class Bar:
    """A rich bar with a description, count, a free text field (losses, lr) and times; a
    disabled bar does nothing. Use as a context manager."""

    def __init__(self, description: str, enabled: bool = True, total: int | None = None,
                 completed: int = 0) -> None:  # fmt: skip
        self.description, self.enabled = description, enabled
        self.total, self.completed = total, completed
        self._progress: Any = None
        self._task: Any = None
        self._plain = not console.is_terminal
        self._info = ""
        self._printed: float | None = None  # when the last plain line was printed

    def _start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console,
        )  # fmt: skip
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total,
                                             completed=self.completed, info="")  # fmt: skip

    def update(self, completed: int, total: int | None = None, info: str | None = None,
               description: str | None = None) -> None:  # fmt: skip
        if not self.enabled:
            return
        if self._plain:
            self._update_plain(completed, total, info, description)
            return
        if self._progress is None:
            self._start()
        fields: dict[str, Any] = {"completed": completed}
        if total is not None:
            fields["total"] = total
        if info is not None:
            fields["info"] = info
        if description is not None:
            fields["description"] = description
        self._progress.update(self._task, **fields)

    def _update_plain(self, completed: int, total: int | None, info: str | None,
                      description: str | None) -> None:  # fmt: skip
        """Record the state; print a line if it is the first, a new stage, or overdue."""
        new_stage = description is not None and description != self.description
        self.completed = completed
        self.total = self.total if total is None else total
        self._info = self._info if info is None else info
        self.description = description or self.description
        now = time.monotonic()
        if self._printed is None or new_stage or now - self._printed >= PLAIN_EVERY:
            self._print_line()
            self._printed = now

    def _print_line(self) -> None:
        count = f"{self.completed}/{self.total}" if self.total else str(self.completed)
        console.print(f"{self.description} {count} {self._info}".rstrip(), markup=False,
                      highlight=False)  # fmt: skip

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._plain and self._printed is not None:
            self._print_line()  # the final state, so a log ends with where the job stopped
            self._printed = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def count_progress(description: str, enabled: bool = True) -> Iterator[Any]:
    """A :class:`Bar` for jobs counted in items; yields ``update(done, total)``."""
    with Bar(description, enabled) as bar:
        yield lambda done, total: bar.update(done, total)
