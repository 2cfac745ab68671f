"""How many threads torch uses, and how they wait: decided once, here, before torch starts.

torch's OpenMP threads spin while they wait for each other (libgomp spins 300 000 rounds, then
sleeps). On an idle machine that is the fastest choice; with another process holding a core, a
spinning thread steals the time its partner needs. Measured here on 2 cores (medians of a
training step of EfficientNet-Lite0 at batch 16, 128 px, and of one 224² inference, timed by a
throwaway script; ``benchmarks/train_throughput.py --busy`` and ``benchmarks/caffe_infer.py
--busy`` show the same effect on the committed benchmarks):

=====================  ====================  =======================
                       idle: step / infer     one core busy: step / infer
=====================  ====================  =======================
spin (default)         207 ms / 13.1 ms       701 ms / 30.5 ms
``PASSIVE``            260 ms / 23.9 ms       461 ms / 24.6 ms
one thread             381 ms / 20.7 ms       383 ms / 20.3 ms
=====================  ====================  =======================

No fixed setting is best in both, so :func:`configure` looks before it chooses: it samples the
machine's CPU use for 0.1 s (``/proc/stat``) and, only when other processes keep at least half a
core busy, asks for ``OMP_WAIT_POLICY=PASSIVE`` and as many threads as cores the others leave
free (one, on this machine with one core busy: the fastest row of the right-hand column; the
Caffe benchmark, ``benchmarks/caffe_infer.py --busy``, agrees). ``import decaf`` runs it, so
library users get it as the CLI's do. The wait policy is read once, when OpenMP
starts, so this must run before torch is imported: the CLI entry point calls it first.
Choosing a policy never changes results, only speed.

Users override everything: ``OMP_WAIT_POLICY`` and ``OMP_NUM_THREADS`` (or ``DECAF_THREADS``)
set in the environment are kept as they are, and ``DECAF_WAIT_POLICY=passive|spin`` skips the
measurement.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadSettings:
    threads: int
    wait_policy: str  # PASSIVE, or "spin" (OpenMP's default, left unset)
    source: str  # "environment", "measured" or "default"
    busy_cores: float | None = None  # what the measurement saw other processes use


def default_threads() -> int:
    """The cores this process may use (its CPU affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def busy_cores(window: float = 0.1) -> float | None:
    """How many cores other processes kept busy over ``window`` seconds (this one sleeps), from
    ``/proc/stat``; None where that file does not exist."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(window)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    if total <= 0:
        return None
    return (1 - (idle1 - idle0) / total) * (os.cpu_count() or 1)


#: the first decision of this process (OpenMP reads its settings once, so later calls repeat it)
_DECIDED: list[ThreadSettings] = []


def configure(threads: int | None = None) -> ThreadSettings:
    """Set the intra-op thread count and, on a busy machine, a passive OpenMP wait policy,
    unless the user chose them. Safe to call more than once: the first call decides, later
    ones return its settings (an explicit ``threads`` still sets torch's count)."""
    if _DECIDED and threads is None:
        return _DECIDED[0]
    settings = _decide(threads)
    if not _DECIDED:
        _DECIDED.append(settings)
    return settings


def _decide(threads: int | None) -> ThreadSettings:
    env = os.environ
    given = threads or _int(env.get("DECAF_THREADS")) or _int(env.get("OMP_NUM_THREADS"))
    count = given or default_threads()
    policy, source, seen = _wait_policy()
    if not given and source == "measured" and policy == "PASSIVE" and seen is not None:
        count = max(1, min(count, round(count - seen)))  # the cores the others leave free
    env.setdefault("OMP_NUM_THREADS", str(count))
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != count:
            torch.set_num_threads(count)
    return ThreadSettings(count, policy, "environment" if given else source, seen)


def _wait_policy() -> tuple[str, str, float | None]:
    env = os.environ
    if "OMP_WAIT_POLICY" in env:
        return env["OMP_WAIT_POLICY"].upper(), "environment", None
    choice = env.get("DECAF_WAIT_POLICY", "").lower()
    if choice in ("passive", "spin"):
        seen, source = None, "environment"
    elif "torch" in sys.modules:  # too late to matter: OpenMP has read its settings
        return "spin", "default", None
    else:
        seen, source = busy_cores(), "measured"
        choice = "passive" if seen is not None and seen >= 0.5 else "spin"
    if choice == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE", source, seen
    return "spin", source, seen


def _int(value: str | None) -> int | None:
    try:
        return max(1, int(value)) if value else None
    except ValueError:
        return None
