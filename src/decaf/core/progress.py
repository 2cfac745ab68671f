"""The one console for progress bars and log lines: stderr, so stdout stays for results/JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

console = Console(stderr=True)


@contextmanager
def count_progress(description: str, enabled: bool = True) -> Iterator[Any]:
    """A rich bar for jobs counted in items; yields ``update(done, total)``.

    The bar appears at the first update, so a job that fails its checks prints only its error.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar: Progress | None = None
    task = None

    def update(done: int, total: int) -> None:
        nonlocal bar, task
        if not enabled:
            return
        if bar is None:
            bar = Progress(
                TextColumn(description), BarColumn(), MofNCompleteColumn(), console=console
            )
            bar.start()
            task = bar.add_task(description, total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
