"""A second process that keeps one core busy, for measuring on a shared machine.

torch's OpenMP threads spin while they wait for each other; with another process holding a
core, a spinning thread steals the time its partner needs. Benchmarks take ``--busy`` to run
their measurements beside this process as well as on an idle machine.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
from collections.abc import Iterator

from decaf.core.threads import configure

configure()  # benchmarks import this module before torch: the thread settings decaf uses


def _spin() -> None:  # pragma: no cover - runs in the child
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648


@contextlib.contextmanager
def busy_core(enabled: bool = True) -> Iterator[None]:
    """Keep one core busy (a plain Python loop in a child process) while the block runs."""
    if not enabled:
        yield
        return
    proc = mp.get_context("spawn").Process(target=_spin, daemon=True)
    proc.start()
    try:
        yield
    finally:
        proc.terminate()
        proc.join()
