"""What the training loop does besides updating: each job is a hook, in a written order.

A hook sees the :class:`~decaf.train.loop.Trainer` (``self.trainer``) at four points:
``before_train``, ``before_step`` and ``after_step`` (each update), and ``after_train``, which
runs in a ``finally`` block, so it runs whether training finished, was stopped or failed
(``trainer.finished`` tells which; hooks that write results only act on a clean end).

The default order (:func:`default_hooks`) is a decision, not an accident:

1. :class:`MetricsHook` — the display window's averages to the progress bar, ``metrics.csv``
   and TensorBoard, and the NaN guard. First, so a diverged loss stops the run before anything
   evaluates or snapshots broken weights.
2. :class:`EvalHook` — evaluation every ``test_interval`` updates and once at the end.
3. :class:`SnapshotHook` — an atomic snapshot every ``snapshot_interval`` updates and whenever
   the run is stopped, so a stop never loses finished work.
4. :class:`StopHook` — the first Ctrl-C or SIGTERM asks the loop to stop after the current
   update (a second Ctrl-C aborts at once); all ranks stop at the same update.
5. :class:`TimeBudgetHook` — ends the run as a normal finish (``time_up``) once
   ``max_seconds`` are spent.

``before_*`` and ``after_step`` run in this order; ``after_train`` runs in the reverse order,
as nested context managers unwind: the stop hook gives the signals back, the snapshot hook saves
a stopped run, the evaluation hook evaluates a finished one, and the metrics hook closes its
files last, after the final evaluation was written.

Caffe's solver adds its own hooks (display lines, test nets, Caffe's snapshot layout) in
:mod:`decaf.caffe.solver`.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from decaf.core.errors import DecafError
from decaf.train import distributed

if TYPE_CHECKING:
    from decaf.train.loop import Trainer


class HookBase:
    """A job around the loop; override the points it needs. ``state_dict`` /
    ``load_state_dict`` (optional) put a hook's state into snapshots."""

    _trainer: Any = None

    @property
    def trainer(self) -> Trainer:
        return self._trainer()

    def attach(self, trainer: Trainer) -> None:
        self._trainer = weakref.ref(trainer)  # no cycle between the trainer and its hooks

    def before_train(self) -> None: ...

    def before_step(self) -> None: ...

    def after_step(self) -> None: ...

    def after_train(self) -> None: ...


class MetricsHook(HookBase):
    """Every ``display`` updates: the window's averages (and the rate of the update) to the
    progress bar and the metrics files; a loss that is not finite stops the run."""

    def before_train(self) -> None:
        t = self.trainer
        self.sums: dict[str, float] = {}
        self.window = 0
        t.bar.__enter__()

    def after_step(self) -> None:
        t = self.trainer
        for k, v in t.step_values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.window += 1
        display = t.loop.display
        if not display or (t.iteration % display and t.iteration != t.loop.max_iter):
            t.bar.update(t.iteration, None)
            return
        avg = {k: v / self.window for k, v in self.sums.items()}
        avg["lr"] = t.step_lr
        t.result.train = avg
        t.metrics.add(t.iteration, t.epoch, "train", avg)
        t.bar.update(t.iteration, avg)
        self.sums, self.window = {}, 0
        if not math.isfinite(avg["loss"]):
            raise DecafError(f"the loss became {avg['loss']} at iteration {t.iteration}; "
                             "lower the learning rate or enable gradient clipping")  # fmt: skip

    def after_train(self) -> None:
        self.trainer.metrics.close()
        self.trainer.bar.__exit__(None, None, None)


class EvalHook(HookBase):
    """Evaluation every ``test_interval`` updates (the last one excepted) and at a clean end."""

    def after_step(self) -> None:
        t = self.trainer
        every = t.loop.test_interval
        if every and t.iteration % every == 0 and t.iteration != t.loop.max_iter:
            t.evaluate()

    def after_train(self) -> None:
        t = self.trainer
        if t.finished and t.stop_reason != "interrupted":
            t.evaluate()


class SnapshotHook(HookBase):
    """The Trainer's own snapshots: every ``snapshot_interval`` updates and when stopped."""

    def after_step(self) -> None:
        t = self.trainer
        every = t.loop.snapshot_interval
        if every and t.iteration % every == 0:
            t.result.snapshot = t.save_snapshot() or t.result.snapshot

    def after_train(self) -> None:
        t = self.trainer
        if t.finished and t.stop_reason == "interrupted":
            t.result.snapshot = t.save_snapshot() or t.result.snapshot


class StopHook(HookBase):
    """The first SIGINT/SIGTERM sets a flag checked after each update; a second SIGINT aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def before_train(self) -> None:
        self.requested = False
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)

    def after_step(self) -> None:
        t = self.trainer
        if distributed.any_rank(self.requested, t.world):
            t.stop("interrupted")

    def after_train(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


class TimeBudgetHook(HookBase):
    """Ends the run early, as a normal finish, once ``loop.max_seconds`` are spent."""

    def after_step(self) -> None:
        t = self.trainer
        budget = t.loop.max_seconds
        if t.stop_reason is None and budget is not None:
            spent = time.perf_counter() - t.start_time
            if distributed.any_rank(spent > budget, t.world):
                t.stop("time_up")


def default_hooks() -> list[HookBase]:
    """The standard jobs, in the order the module docstring explains."""
    return [MetricsHook(), EvalHook(), SnapshotHook(), StopHook(), TimeBudgetHook()]
