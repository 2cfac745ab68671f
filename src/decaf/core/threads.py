"""How many threads torch uses, and how they wait: decided once, here, before torch starts.

torch's OpenMP threads spin while they wait for work. On a machine whose cores other processes
share, a spinning thread holds a core someone else needs: measured here with three other jobs on
two cores, a Gatys run took 206–413 s instead of 23 s, and a Caffe ResNet-50 13–18× OpenCV's
time. With ``OMP_WAIT_POLICY=PASSIVE`` waiting threads sleep instead, which costs nothing
measurable on an idle machine. The wait policy is read once, when OpenMP starts, so
:func:`configure` must run before torch is imported: the CLI entry point calls it first.

Users override everything: ``OMP_WAIT_POLICY`` and ``OMP_NUM_THREADS`` (or ``DECAF_THREADS``)
set in the environment are kept as they are.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadSettings:
    threads: int
    wait_policy: str
    source: str  # "environment" or "default"


def default_threads() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def configure(threads: int | None = None) -> ThreadSettings:
    """Set the intra-op thread count and a passive OpenMP wait policy, unless the user set them.

    Safe to call more than once; effective for the wait policy only before torch's first import
    (afterwards only the thread count changes)."""
    env = os.environ
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    given = threads or _int(env.get("DECAF_THREADS")) or _int(env.get("OMP_NUM_THREADS"))
    count = given or default_threads()
    if "OMP_NUM_THREADS" not in env:
        os.environ["OMP_NUM_THREADS"] = str(count)
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    return ThreadSettings(count, os.environ["OMP_WAIT_POLICY"],
                          "environment" if given else "default")  # fmt: skip


def _int(value: str | None) -> int | None:
    try:
        return max(1, int(value)) if value else None
    except ValueError:
        return None
