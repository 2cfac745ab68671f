"""The one console and the one progress bar: on stderr, so stdout stays for results and JSON.

Every long job (training, Gatys iterations, folders, frames) shows the same :class:`Bar`; the
bar appears at its first update, so a job that fails its checks prints only its error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

console = Console(stderr=True)
if not console.is_terminal:  # piped or logged: never cut lines to rich's 80-column default
    console = Console(stderr=True, width=10_000, soft_wrap=True)


class Bar:
    """A rich bar with a description, count, a free text field (losses, lr) and times; a
    disabled bar does nothing. Use as a context manager."""

    def __init__(self, description: str, enabled: bool = True, total: int | None = None,
                 completed: int = 0) -> None:  # fmt: skip
        self.description, self.enabled = description, enabled
        self.total, self.completed = total, completed
        self._progress: Any = None
        self._task: Any = None

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

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


@contextmanager
def count_progress(description: str, enabled: bool = True) -> Iterator[Any]:
    """A :class:`Bar` for jobs counted in items; yields ``update(done, total)``."""
    with Bar(description, enabled) as bar:
        yield lambda done, total: bar.update(done, total)
