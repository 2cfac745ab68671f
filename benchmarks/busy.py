"""A second process that keeps one core busy, for measuring on a shared machine.

torch's OpenMP threads spin while they wait for each other; with another process holding a
core, a spinning thread steals the time its partner needs. Benchmarks take ``--busy`` to run
their measurements beside this process as well as on an idle machine.

Benchmarks import this module before torch: with ``--busy`` on the command line the busy
process starts first, so decaf's thread settings (:func:`decaf.core.threads.configure`, run
next) see the machine as a user's shared machine would be, already busy.
"""

from __future__ import annotations

import atexit
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

SPIN = "x = 0\nwhile True:\n    x = (x * 1103515245 + 12345) % 2147483648\n"

_SPINNER: subprocess.Popen | None = None
if "--busy" in sys.argv:
    _SPINNER = subprocess.Popen([sys.executable, "-c", SPIN])  # a plain process: no re-import
    atexit.register(_SPINNER.kill)  # never left behind, whatever ends the benchmark
    time.sleep(1.0)  # let it take its core before the machine is sampled

# importing decaf measures the machine and decides (decaf/__init__.py): after the spinner
from decaf.core.threads import configure  # noqa: E402

SETTINGS = configure()


@contextlib.contextmanager
def busy_core(enabled: bool = True) -> Iterator[None]:
    """The block runs beside the busy process (started at import with ``--busy``)."""
    if enabled and _SPINNER is None:
        raise RuntimeError("import busy with --busy on the command line")
    try:
        yield
    finally:
        if _SPINNER is not None:
            _SPINNER.terminate()
            _SPINNER.wait()
