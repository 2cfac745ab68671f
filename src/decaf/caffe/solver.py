"""Caffe's solvers on decaf's training engine: ``caffe train`` and pycaffe's ``Solver``.

A :class:`Solver` reads a solver.prototxt, builds the train net and its test nets (test nets
share the train net's blobs by layer name), and trains on :class:`decaf.train.loop.Trainer`
with Caffe's exact update rules (:class:`decaf.train.caffe_optim.CaffeOptimizer`) and rates
(:class:`~decaf.train.caffe_optim.CaffeRate`). One iteration follows ``Solver::Step``: test
first when due, ``iter_size`` forward/backward passes accumulating gradients, then the update.

The engine gives ``caffe train`` what every decaf trainer has: a progress bar, ``metrics.csv``
(train loss and rate, every test score), a time budget, the stop on Ctrl-C/SIGTERM (which
snapshots) and DDP under torchrun (gradients averaged over ranks, as Caffe's multi-GPU solver
does). Caffe's own behaviour comes in as hooks, after the engine's metrics hook and before its
stop and time hooks:

1. :class:`CaffeTestHook` — before an iteration whose number is a multiple of
   ``test_interval`` (iteration 0 too when ``test_initialization``), every test net is scored
   over its ``test_iter`` batches, logged like Caffe and recorded in the metrics;
2. :class:`CaffeDisplayHook` — Caffe's ``Iteration N, loss = …, lr = …`` line every
   ``display`` iterations, the loss smoothed over ``average_loss`` iterations;
3. :class:`CaffeSnapshotHook` — ``<prefix>_iter_N.caffemodel`` and ``.solverstate`` every
   ``snapshot`` iterations (Caffe's layout: Caffe and OpenCV read them).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decaf.caffe import io as cio
from decaf.caffe.net import TEST, TRAIN, CaffeNet, naming, score
from decaf.core.errors import OptionError
from decaf.train.caffe_optim import RULES, CaffeOptimizer, CaffeRate
from decaf.train.hooks import HookBase, MetricsHook, StopHook, TimeBudgetHook
from decaf.train.loop import LoopConfig, Trainer
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig

SOLVER_TYPES = RULES
_LEGACY_TYPES = {0: "SGD", 1: "Nesterov", 2: "AdaGrad", 3: "RMSProp", 4: "AdaDelta", 5: "Adam"}


def _find(path: str, base: Path) -> Path:
    p = Path(path)
    for c in (p, base / p, base / p.name):
        if c.is_file():
            return c
    raise OptionError(f"net file {path!r} not found (also looked in {base})")


class Solver:
    """``caffe.get_solver(path)``: ``.net``, ``.test_nets``, ``.iter``, ``.step(n)``, ``.solve``.

    ``run_dir`` receives ``metrics.csv``; ``progress`` shows the engine's bar.
    """

    def __init__(
        self,
        solver: str | os.PathLike | Any,
        log: Callable[[str], None] | None = None,
        allow_python: bool = False,
        run_dir: str | os.PathLike | None = None,
        progress: bool = False,
        python_path: Sequence[str | os.PathLike] = (),
        solver_type: str | None = None,
    ) -> None:
        """``solver_type`` overrides the file's ``type`` (pycaffe's ``caffe.AdamSolver``...)."""
        self.allow_python = allow_python
        self.python_path = tuple(python_path)
        if isinstance(solver, str | os.PathLike):
            self.path: Path | None = Path(solver)
            self.param = cio.read_solver(solver)
            self.base = self.path.parent
        else:
            self.path, self.param, self.base = None, solver, Path(".")
        p = self.param
        self.type = solver_type or (p.type if p.HasField("type") else
                                    _LEGACY_TYPES[p.solver_type])  # fmt: skip
        if self.type not in SOLVER_TYPES:
            raise OptionError(f"unknown solver type {self.type!r}; Caffe has {SOLVER_TYPES}")
        if p.lr_policy == "":
            raise OptionError("the solver needs lr_policy")
        self.policy = LRPolicy(
            p.lr_policy, base_lr=p.base_lr, gamma=p.gamma, power=p.power,
            stepsize=max(1, p.stepsize), stepvalue=tuple(p.stepvalue), max_iter=p.max_iter,
        )  # fmt: skip
        # random_seed makes the fillers repeatable without touching the caller's generators;
        # the global ones are seeded only when training starts (see step), as the Trainer does
        py_state = random.getstate()  # the data layers' shuffles and skips use Python's
        with torch.random.fork_rng(devices=[]):
            if p.random_seed >= 0:
                torch.manual_seed(p.random_seed)
                random.seed(p.random_seed)
            try:
                self.net = self._build(TRAIN)
                self.test_nets = [self._build(TEST, i) for i in range(self._test_count())]
            finally:
                random.setstate(py_state)
        for t in self.test_nets:  # test nets use the train net's blobs by layer name
            t.share_with(self.net)
        self.log = log
        self.interrupted = False  # did the last step()/solve() stop early?
        self._last_snapshot = -1  # the iteration the last snapshot holds
        self._seeded = False  # random_seed is applied once per solver, when training starts
        self._should_stop: Callable[[], bool] | None = None
        self.losses: list[float] = []
        self.test_scores: list[dict[str, float]] = []
        self.seconds = 0.0
        self.trainer = self._trainer(run_dir, progress)
        self.world = self.trainer.world
        if self.world.distributed:  # every rank starts from rank 0's weights
            import torch.distributed as dist

            for param in self.net.parameters():
                dist.broadcast(param.data, 0)

    def _trainer(self, run_dir: str | os.PathLike | None, progress: bool) -> Trainer:
        """The engine, with Caffe's optimiser, rate, display, test-net and snapshot hooks."""
        p = self.param
        groups = [{"params": [param], "lr_mult": lr, "decay_mult": decay, "name": name}
                  for name, param, lr, decay in self._learnable()]  # fmt: skip
        if not groups:
            raise OptionError("nothing to train: every parameter has lr_mult 0")
        from decaf.train import distributed

        world = distributed.setup()
        optimizer = CaffeOptimizer(
            groups, self.type, momentum=p.momentum, weight_decay=p.weight_decay,
            regularization=p.regularization_type, delta=p.delta, momentum2=p.momentum2,
            rms_decay=p.rms_decay, iter_size=p.iter_size, clip_gradients=p.clip_gradients,
            world_size=world.size,
        )  # fmt: skip
        loop = LoopConfig(max_iter=0, batch_size=1, display=p.display or 20,
                          out_dir=Path(run_dir) if run_dir is not None else None,
                          seed=max(0, p.random_seed), progress=progress, device="cpu")  # fmt: skip
        hooks = [MetricsHook(), CaffeTestHook(self), CaffeDisplayHook(self),
                 CaffeSnapshotHook(self), StopHook(), TimeBudgetHook()]  # fmt: skip
        rate = CaffeRate(optimizer, self.policy)
        return Trainer(self.net, None, self._step, SolverConfig(iter_size=p.iter_size), loop,
                       hooks=hooks, optimizer=optimizer, scheduler=rate, divide_loss=False,
                       ddp=False, seed=False)  # fmt: skip

    def _step(self, net: CaffeNet, _batch: None) -> dict[str, torch.Tensor]:
        net()
        return {"loss": self.net.loss()}

    @property
    def iter(self) -> int:
        return self.trainer.iteration

    @iter.setter
    def iter(self, value: int) -> None:
        self.trainer.iteration = int(value)
        self.trainer.scheduler.jump(int(value))

    # -- nets --------------------------------------------------------------------------------
    def _net_param(self, phase: int, index: int = 0) -> Any:
        p = self.param
        if p.HasField("net_param"):
            net = type(p.net_param)()
            net.CopyFrom(p.net_param)  # upgraded in place: leave the solver's own message alone
            return cio.upgrade_net(net)
        if p.HasField("net"):
            return cio.read_net(_find(p.net, self.base))
        if phase == TRAIN and p.HasField("train_net"):
            return cio.read_net(_find(p.train_net, self.base))
        if phase == TEST and index < len(p.test_net):
            return cio.read_net(_find(p.test_net[index], self.base))
        raise OptionError("the solver names no net (net, train_net or test_net)")

    def _test_count(self) -> int:
        p = self.param
        if not p.test_iter:
            return 0
        shared = 1 if p.HasField("net") or p.HasField("net_param") else 0
        return max(len(p.test_net) + len(p.test_net_param), shared)

    def _build(self, phase: int, index: int = 0) -> CaffeNet:
        p = self.param
        state = p.train_state if phase == TRAIN else (
            p.test_state[index] if index < len(p.test_state) else None)  # fmt: skip
        level = state.level if state is not None else 0
        stages = list(state.stage) if state is not None else []
        with naming(self.path):
            net = CaffeNet(self._net_param(phase, index), phase=phase, level=level,
                           stages=stages, base=self.base, allow_python=self.allow_python,
                           python_path=self.python_path)  # fmt: skip
        return net.train(phase == TRAIN)

    def _learnable(self) -> list[tuple[str, torch.nn.Parameter, float, float]]:
        out = []
        seen: set[int] = set()
        for name, param in self.net.named_parameters():
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            lr_mult, decay_mult = self.net.mults.get(name.removeprefix("layers."), (1.0, 1.0))
            if lr_mult == 0:
                continue
            out.append((name, param, lr_mult, decay_mult))
        return out

    def rate(self) -> float:
        return self.policy.rate(self.iter)

    # -- testing -----------------------------------------------------------------------------
    def test(self, index: int = 0) -> dict[str, float]:
        """Average every output of test net ``index`` over ``test_iter`` batches."""
        scores = score(self.test_nets[index], self.param.test_iter[index])
        if self.log:
            shown = ", ".join(f"{k} = {v:.4g}" for k, v in scores.items())
            self.log(f"Iteration {self.iter}, Testing net (#{index}): {shown}")
        return scores

    def test_all(self) -> list[dict[str, float]]:
        """Every test net's scores, recorded in the metrics as split ``test#i``."""
        self.test_scores = [self.test(i) for i in range(len(self.test_nets))]
        metrics = getattr(self.trainer, "metrics", None)
        for i, scores in enumerate(self.test_scores):
            if metrics is not None:
                metrics.add(self.iter, 0, f"test#{i}", scores)
        return self.test_scores

    # -- the loop ----------------------------------------------------------------------------
    def step(self, iters: int, should_stop: Callable[[], bool] | None = None,
             max_seconds: float | None = None) -> bool:  # fmt: skip
        """Run ``iters`` iterations; True when they were cut short (``should_stop``, Ctrl-C,
        SIGTERM or ``max_seconds``)."""
        p = self.param
        if not self._seeded and p.random_seed >= 0:  # dropout & co. start from random_seed,
            torch.manual_seed(p.random_seed)  # after a restore too, as Caffe seeds at start-up:
            np.random.seed(p.random_seed % 2**32)  # a resumed run is then repeatable
            random.seed(p.random_seed)  # crops and mirrors
        self._seeded = True
        t = self.trainer
        t.loop = replace(t.loop, max_iter=self.iter + iters, max_seconds=max_seconds)
        self._should_stop = should_stop
        result = t.fit()
        self.interrupted = result.interrupted
        return result.interrupted or result.time_up

    def solve(self, should_stop: Callable[[], bool] | None = None,
              max_seconds: float | None = None) -> dict[str, float]:  # fmt: skip
        """Run to ``max_iter`` as ``Solver::Solve``: a last snapshot unless the last iteration
        just wrote one (``snapshot_after_train``; a stopped run always keeps its work), then,
        when the run was not stopped and ``test_interval`` divides the iteration, a last test."""
        start = time.perf_counter()
        stopped = self.step(self.param.max_iter - self.iter, should_stop, max_seconds)
        if not self.world.is_main:
            self.seconds = time.perf_counter() - start
            return {}
        p = self.param
        if (p.snapshot_after_train or stopped) and self._last_snapshot != self.iter:
            self.snapshot()
        if not stopped and self.test_nets and p.test_interval and self.iter % p.test_interval == 0:
            self.test_all()
        self.seconds = time.perf_counter() - start
        return self.test_scores[0] if self.test_scores else {}

    # -- snapshots ---------------------------------------------------------------------------
    def _prefix(self) -> Path:
        """Where snapshots go. A relative ``snapshot_prefix`` is taken from the working folder,
        as Caffe does, when its folder exists there; else from the solver file's folder (where
        BVLC's prototxts, written for the Caffe root, find their nets too). A prefix that is a
        folder gets the solver file's name."""
        p = self.param
        if not p.snapshot_prefix:
            return self.path.with_suffix("") if self.path else Path("snapshot")
        prefix = Path(p.snapshot_prefix)
        if not prefix.is_absolute() and not prefix.parent.is_dir():
            beside = self.base / prefix
            prefix = beside if beside.parent.is_dir() else self.base / prefix.name
        if prefix.is_dir() or p.snapshot_prefix.endswith("/"):
            prefix = prefix / (self.path.stem if self.path else "snapshot")
        return prefix

    def snapshot(self) -> tuple[Path, Path]:
        """Write ``<prefix>_iter_N.caffemodel`` and ``.solverstate`` (both atomically)."""
        prefix = self._prefix()
        model = Path(f"{prefix}_iter_{self.iter}.caffemodel")
        state_path = Path(f"{prefix}_iter_{self.iter}.solverstate")
        self.net.save(model)
        state = cio.PROTO.SolverState(iter=self.iter, learned_net=str(model))
        # Caffe's layout: every parameter's first history, then (AdaDelta/Adam) every second one
        per = 2 if self.type in ("AdaDelta", "Adam") else 1
        histories = self.trainer.optimizer.histories(per)
        for j in range(per):
            for h in histories:
                state.history.append(cio.array_to_blobproto(h[j].detach().cpu().numpy()))
        cio.write_weights(state, state_path)
        self._last_snapshot = self.iter
        if self.log:
            self.log(f"Snapshotting to {model} and {state_path}")
        return model, state_path

    def restore(self, state_path: str | os.PathLike) -> None:
        """Continue from a ``.solverstate`` (and the caffemodel it names)."""
        state = cio.parse_binary(state_path, cio.PROTO.SolverState())
        model = Path(state.learned_net)
        if not model.is_file():
            model = Path(state_path).parent / model.name
        self.net.copy_from(model)
        blobs = list(state.history)
        per = 2 if self.type in ("AdaDelta", "Adam") else 1
        params = [param for _, param, _, _ in self._learnable()]
        if blobs and len(blobs) != per * len(params):
            raise OptionError(
                f"{state_path}: {len(blobs)} history blobs, this solver needs {per * len(params)}"
            )
        histories = [
            [torch.from_numpy(cio.blobproto_to_array(blobs[j * len(params) + i]).copy())
             .reshape(param.shape) if blobs else torch.zeros_like(param) for j in range(per)]
            for i, param in enumerate(params)
        ]  # fmt: skip
        self.trainer.optimizer.set_state(histories, state.iter)
        self.iter = state.iter


class _SolverHook(HookBase):
    def __init__(self, solver: Solver) -> None:
        self.solver = solver


class CaffeTestHook(_SolverHook):
    """Caffe tests at the start of iterations that are multiples of ``test_interval``."""

    def before_step(self) -> None:
        s, p = self.solver, self.solver.param
        due = p.test_interval and s.iter % p.test_interval == 0
        if due and (s.iter > 0 or p.test_initialization) and s.world.is_main and s.test_nets:
            s.test_all()


class CaffeDisplayHook(_SolverHook):
    """``Iteration N, loss = L, lr = R`` every ``display`` iterations (N counts from 0, L is
    smoothed over ``average_loss`` iterations), and ``should_stop`` polled after each."""

    def after_step(self) -> None:
        s, p = self.solver, self.solver.param
        done = s.iter - 1  # Caffe logs before it increments
        s.losses = (s.losses + [s.trainer.step_values["loss"]])[-max(1, p.average_loss) :]
        if s.log and s.world.is_main and p.display and done % p.display == 0:
            smoothed = sum(s.losses) / len(s.losses)
            s.log(f"Iteration {done}, loss = {smoothed:.5g}, lr = {s.policy.rate(done):.6g}")
        if s._should_stop is not None and s._should_stop():
            s.trainer.stop("interrupted")


class CaffeSnapshotHook(_SolverHook):
    """A caffemodel + solverstate every ``snapshot`` iterations (main process only)."""

    def after_step(self) -> None:
        s, p = self.solver, self.solver.param
        if p.snapshot and s.iter % p.snapshot == 0 and s.world.is_main:
            s.snapshot()


def get_solver(path: str | os.PathLike) -> Solver:
    """pycaffe's ``caffe.get_solver``."""
    return Solver(path)
