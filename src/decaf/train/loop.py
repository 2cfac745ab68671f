"""The training loop every task shares: iterations, accumulation, evaluation, snapshots, resume.

A task supplies a model, a dataset and a ``step`` function (model, batch) → ``{"loss": tensor,
...}``; optionally an ``evaluate`` function (model) → ``{metric: float}``. :class:`Trainer` does
the rest the way Caffe's solver does, counted in *iterations* (one optimiser update each):

- ``iter_size`` micro-batches per update, the loss divided by ``iter_size`` (so the gradient is
  the mean over the larger batch), DDP gradient sync only on the last micro-batch;
- gradient clipping by global L2 norm (Caffe's ``clip_gradients``);
- the learning-rate policy stepped once per update;
- a display line every ``display`` iterations with the loss averaged over them, evaluation every
  ``test_interval`` iterations and at the end, all metrics to ``metrics.csv`` (and TensorBoard
  when it is installed);
- a snapshot every ``snapshot_interval`` iterations and when stopped: model, optimiser, scheduler,
  RNG states and the data position (epoch, batch), written atomically; :meth:`Trainer.fit` with
  ``resume=`` continues so that the weights equal an uninterrupted run's, bit for bit;
- the first Ctrl-C or SIGTERM finishes the current iteration, snapshots and returns with
  ``interrupted=True`` (a second Ctrl-C aborts at once).

The loop itself is :meth:`Trainer.fit` and :meth:`Trainer._update`; display, metrics, the NaN
guard, evaluation, snapshots, signals and the time budget are hooks (:mod:`decaf.train.hooks`,
whose docstring gives their order and why). Caffe's solver runs on this same Trainer with hooks
of its own (``decaf.caffe.solver``): a dataset is optional (Caffe nets read their own data), and
a ready optimiser and scheduler may replace the :class:`SolverConfig`'s.
"""

from __future__ import annotations

import contextlib
import csv
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from decaf.core.bundle import SNAPSHOT_FORMAT, load_checked, plain, save_checked
from decaf.core.errors import DecafError, OptionError
from decaf.core.progress import Bar
from decaf.train import distributed
from decaf.train.hooks import HookBase, default_hooks
from decaf.train.sampler import KeyedDataset, ResumableBatchSampler
from decaf.train.solver import SolverConfig, build_solver


class Stateful(Protocol):
    """What the Trainer keeps in snapshots besides model, optimiser and scheduler."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class Counter:
    """A count a step function keeps (e.g. StyleBank's alternation), saved in snapshots."""

    n: int = 0

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.n = int(state["n"])


StepFn = Callable[[nn.Module, Any], dict[str, torch.Tensor]]
EvalFn = Callable[[nn.Module], dict[str, float]]


@dataclass(frozen=True)
class LoopConfig:
    """How long to train and what to record; names follow Caffe's solver.prototxt."""

    max_iter: int
    batch_size: int
    display: int = 20
    test_interval: int = 0  # 0: evaluate only at the end
    snapshot_interval: int = 0  # 0: snapshot only when stopped early
    out_dir: Path | None = None  # snapshots/ and metrics.csv go here
    keep_snapshots: int = 3
    seed: int = 0
    shuffle: bool = True
    num_workers: int = 0
    progress: bool = False
    tensorboard: bool = True  # used only when the tensorboard package is installed
    device: str | None = None  # default: the local GPU under DDP/when present, else CPU
    max_seconds: float | None = None  # a hard time budget: end early (not interrupted) when spent

    def __post_init__(self) -> None:
        if self.max_iter < 0:
            raise OptionError(f"max_iter must be ≥ 0, got {self.max_iter}")
        if self.batch_size < 1:
            raise OptionError(f"batch size must be ≥ 1, got {self.batch_size}")
        if min(self.display, self.test_interval, self.snapshot_interval, self.num_workers) < 0:
            raise OptionError("display, test_interval, snapshot_interval, workers must be ≥ 0")


@dataclass
class TrainResult:
    iteration: int
    interrupted: bool
    seconds: float
    images: int
    data_wait: float  # seconds the loop spent waiting for batches
    train: dict[str, float] = field(default_factory=dict)  # last display-window averages
    eval: dict[str, float] = field(default_factory=dict)  # last evaluation
    history: list[dict[str, Any]] = field(default_factory=list)
    snapshot: Path | None = None
    time_up: bool = False  # ended by ``max_seconds`` before ``max_iter``

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def rng_state() -> dict[str, Any]:
    """Every RNG the loop can touch, in types ``torch.load(weights_only=True)`` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_tuple(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def set_seed(seed: int) -> None:
    """Seed torch, numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(i) for i in x) if isinstance(x, list | tuple) else x


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


class _Metrics:
    """Rows of (iteration, epoch, split, name, value) to CSV and TensorBoard, kept in memory."""

    FIELDS = ("iteration", "epoch", "split", "name", "value")

    def __init__(self, out_dir: Path | None, enabled: bool, tensorboard: bool) -> None:
        self.rows: list[dict[str, Any]] = []
        self.path = out_dir / "metrics.csv" if out_dir is not None and enabled else None
        self.writer = None
        if self.path is not None and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None  # noqa: N806
            if SummaryWriter is not None:
                self.writer = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def start(self, resume_iteration: int | None) -> None:
        """Open the CSV; on resume keep only rows up to the snapshot (later ones are redone)."""
        if self.path is None:
            return
        kept: list[dict[str, Any]] = []
        if resume_iteration is not None and self.path.exists():
            with self.path.open(newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["iteration"]) <= resume_iteration]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.FIELDS)
            w.writeheader()
            w.writerows(kept)

    def add(self, iteration: int, epoch: int, split: str, values: dict[str, float]) -> None:
        new = [
            {"iteration": iteration, "epoch": epoch, "split": split, "name": k, "value": v}
            for k, v in values.items()
        ]
        self.rows.extend(new)
        if self.path is not None:
            with self.path.open("a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.FIELDS).writerows(new)
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{split}/{k}", v, iteration)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None  # later rows (a final test) still reach the CSV


class Trainer:
    """Runs ``step`` over ``dataset`` under a :class:`SolverConfig` for ``loop.max_iter`` updates.

    ``train_mode`` is called after ``model.train()`` each time the loop enters training, so a
    task can keep frozen BatchNorm layers in eval mode (a plain ``model.train()`` would undo it).
    ``extra_state`` returns task data stored in each snapshot (e.g. class names).
    ``stateful`` objects (``state_dict()``/``load_state_dict()``, e.g. a step's schedule
    counter) are saved in every snapshot and restored on resume, so a resumed run continues
    their schedule exactly. ``hooks`` replace :func:`~decaf.train.hooks.default_hooks`.

    For Caffe's solver: ``dataset=None`` (the step gets ``None`` and the net reads its own
    data), a ready ``optimizer`` and ``scheduler``, ``divide_loss=False`` (Caffe's optimiser
    clips, then divides the summed ``iter_size`` gradients itself), ``ddp=False`` (its step
    averages gradients over the ranks as Caffe does) and ``seed=False`` (its seed is its own).
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset | None,
        step: StepFn,
        solver: SolverConfig,
        loop: LoopConfig,
        evaluate: EvalFn | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        train_mode: Callable[[nn.Module], None] | None = None,
        extra_state: Callable[[], dict[str, Any]] | None = None,
        log: Callable[[str], None] | None = None,
        stateful: dict[str, Stateful] | None = None,
        hooks: Sequence[HookBase] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        scheduler: Any = None,
        divide_loss: bool = True,
        ddp: bool = True,
        seed: bool = True,
    ) -> None:
        self.world = distributed.setup()
        self.loop = loop
        self.solver_config = solver
        self.step_fn = step
        self.evaluate_fn = evaluate
        self.train_mode = train_mode
        self.extra_state = extra_state
        self.stateful = dict(stateful or {})
        self.log = log if self.world.is_main else None
        self.divide_loss, self.seed = divide_loss, seed
        self.device = _device(loop.device, self.world)
        self.model = model.to(self.device)
        if optimizer is None:
            optimizer, scheduler = build_solver(self.model, solver)
        self.optimizer, self.scheduler = optimizer, scheduler
        self.net: nn.Module = self.model
        if self.world.distributed and ddp:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.sampler, self.loader = self._data(dataset, collate_fn)
        self.hooks = list(default_hooks() if hooks is None else hooks)
        for hook in self.hooks:
            hook.attach(self)
        self.iteration = 0
        self.epoch = 0
        self.batch = 0
        self._it: Iterator[Any] | None = None
        self.stop_reason: str | None = None
        self.finished = False

    def _data(self, dataset: Dataset | None, collate_fn: Callable[[list[Any]], Any] | None
              ) -> tuple[ResumableBatchSampler | None, DataLoader | None]:  # fmt: skip
        if dataset is None:
            return None, None
        loop = self.loop
        sampler = ResumableBatchSampler(
            len(dataset),  # type: ignore[arg-type]
            loop.batch_size, seed=loop.seed, shuffle=loop.shuffle, rank=self.world.rank,
            world_size=self.world.size,
        )  # fmt: skip
        loader = DataLoader(
            KeyedDataset(dataset), batch_sampler=sampler, num_workers=loop.num_workers,
            collate_fn=collate_fn, persistent_workers=loop.num_workers > 0,
            pin_memory=self.device.type == "cuda",
            # a private generator, so starting an epoch never consumes the global RNG
            generator=torch.Generator().manual_seed(loop.seed),
        )  # fmt: skip
        return sampler, loader

    # -- data position ---------------------------------------------------------------------
    def _next_batch(self) -> Any:
        if self.loader is None:
            return None
        while True:
            if self._it is None:
                self.sampler.epoch, self.sampler.start_batch = self.epoch, self.batch
                self._it = iter(self.loader)
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                self.epoch, self.batch = self.epoch + 1, 0
                continue
            self.batch += 1
            return batch

    # -- snapshots ---------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        """Settings that must match for a resume to be exact."""
        return {
            "batch_size": self.loop.batch_size,
            "world_size": self.world.size,
            "seed": self.loop.seed,
            "iter_size": self.solver_config.iter_size,
            "dataset_size": self.sampler.size if self.sampler is not None else None,
        }

    def snapshot_state(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "data": {"epoch": self.epoch, "batch": self.batch},
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "identity": self._identity(),
            "solver": plain(asdict(self.solver_config)),
            "extra": self.extra_state() if self.extra_state else {},
            "stateful": {k: v.state_dict() for k, v in self.stateful.items()},
        }

    def save_snapshot(self) -> Path | None:
        if self.loop.out_dir is None or not self.world.is_main:
            return None
        folder = Path(self.loop.out_dir) / "snapshots"
        path = save_checked(
            self.snapshot_state(), folder / f"iter_{self.iteration:08d}.pt", SNAPSHOT_FORMAT
        )
        if self.loop.keep_snapshots > 0:
            for old in sorted(folder.glob("iter_*.pt"))[: -self.loop.keep_snapshots]:
                old.unlink(missing_ok=True)
        return path

    def load_snapshot(self, src: str | Path) -> dict[str, Any]:
        path = latest_snapshot(src)
        state = load_checked(path, SNAPSHOT_FORMAT)
        mismatched = {
            k: (v, state["identity"].get(k))
            for k, v in self._identity().items()
            if state["identity"].get(k) != v
        }
        if mismatched:
            desc = ", ".join(f"{k} {old} now {new}" for k, (new, old) in mismatched.items())
            raise OptionError(f"{path}: cannot resume exactly, settings differ ({desc})")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise DecafError(f"{path}: snapshot does not fit this model/solver: {exc}") from None
        self.scheduler.load_state_dict(state["scheduler"])
        for name, obj in self.stateful.items():
            if name not in state.get("stateful", {}):
                raise OptionError(f"{path}: the snapshot has no state for {name!r}")
            obj.load_state_dict(state["stateful"][name])
        set_rng_state(state["rng"])
        self.iteration = int(state["iteration"])
        self.epoch, self.batch = int(state["data"]["epoch"]), int(state["data"]["batch"])
        self._it = None
        return state

    # -- the loop ----------------------------------------------------------------------------
    def _set_train(self) -> None:
        self.net.train()
        if self.train_mode is not None:
            self.train_mode(self.model)

    def evaluate(self) -> None:
        """Run ``evaluate`` (main process only) and record its metrics."""
        if self.evaluate_fn is None or not self.world.is_main:
            return
        self.model.eval()
        with torch.inference_mode():
            values = {k: float(v) for k, v in self.evaluate_fn(self.model).items()}
        self._set_train()
        self.result.eval = values
        self.metrics.add(self.iteration, self.epoch, "val", values)
        if self.log:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
            self.log(f"iter {self.iteration}: val {shown}")

    def stop(self, reason: str) -> None:
        """Ask the loop to end after the current update ("interrupted" or "time_up")."""
        self.stop_reason = self.stop_reason or reason

    def _update(self) -> dict[str, float]:
        """One optimiser update over ``iter_size`` micro-batches; returns the step's values
        (averaged over the micro-batches)."""
        n = self.solver_config.iter_size
        values: dict[str, float] = {}
        for micro in range(n):
            t0 = time.perf_counter()
            batch = to_device(self._next_batch(), self.device)
            self._wait += time.perf_counter() - t0
            self.result.images += self.sampler.global_batch if self.sampler else 0
            sync = micro == n - 1 or self.net is self.model
            with contextlib.nullcontext() if sync else self.net.no_sync():  # type: ignore[operator]
                out = self.step_fn(self.net, batch)
                loss = out["loss"]
                (loss / n if n > 1 and self.divide_loss else loss).backward()
            for k, v in out.items():
                values[k] = values.get(k, 0.0) + float(v.detach()) / n
        if self.solver_config.clip_gradients is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, self.solver_config.clip_gradients)
            values["grad_norm"] = float(norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.iteration += 1
        return values

    def fit(self, resume: str | Path | None = None) -> TrainResult:
        """Train to ``max_iter`` updates (from ``resume`` when given) and return what happened."""
        loop = self.loop
        resumed_at = None
        if resume is not None:
            resumed_at = int(self.load_snapshot(resume)["iteration"])
        elif self.iteration == 0 and self.seed:
            # like Caffe's random_seed: dropout and friends start from ``seed``, whatever the
            # caller did with the global generators before
            set_seed(loop.seed + self.world.rank)
        out_dir = Path(loop.out_dir) if loop.out_dir else None
        self.metrics = _Metrics(out_dir, self.world.is_main, loop.tensorboard)
        # a resumed run, or one continued in this process (pycaffe's solver.step(n) again),
        # keeps the rows up to where it stands
        self.metrics.start(resumed_at if resumed_at is not None else (self.iteration or None))
        self.result = TrainResult(self.iteration, False, 0.0, 0, 0.0, history=self.metrics.rows)
        self.bar = _Bar(loop.progress and self.world.is_main, loop.max_iter, self.iteration)
        self.stop_reason, self.finished, self._wait = None, False, 0.0
        self.start_time = time.perf_counter()
        self._set_train()
        started: list[HookBase] = []
        try:
            for hook in self.hooks:
                hook.before_train()
                started.append(hook)
            while self.iteration < loop.max_iter and self.stop_reason is None:
                for hook in self.hooks:
                    hook.before_step()
                self.step_lr = self.scheduler.get_last_lr()[0] / self.optimizer.param_groups[
                    0].get("lr_mult", 1.0)  # fmt: skip
                self.step_values = self._update()
                for hook in self.hooks:
                    hook.after_step()
            self.finished = True
        finally:
            self.result.interrupted = self.stop_reason == "interrupted"
            self.result.time_up = self.stop_reason == "time_up"
            for hook in reversed(started):
                hook.after_train()
            self.result.seconds = time.perf_counter() - self.start_time
            self.result.data_wait = self._wait
            self.result.iteration = self.iteration
        return self.result


def _device(name: str | None, world: distributed.World) -> torch.device:
    """The loop's device: the one asked for, else this rank's GPU when there is one, else CPU."""
    if name is not None:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", world.local_rank)
    return torch.device("cpu")


def latest_snapshot(src: str | Path) -> Path:
    """``src`` itself, or the newest ``iter_*.pt`` in a run folder or its ``snapshots/``."""
    path = Path(src)
    if path.is_dir():
        found = sorted(path.glob("iter_*.pt")) or sorted(path.glob("snapshots/iter_*.pt"))
        if not found:
            raise DecafError(f"{path}: no snapshots (iter_*.pt) in this folder")
        return found[-1]
    return path


class _Bar(Bar):
    """The shared progress bar, showing iteration, loss and learning rate."""

    def __init__(self, enabled: bool, total: int, done: int) -> None:
        super().__init__("train", enabled, total, done)

    def update(self, iteration: int, values: dict[str, float] | None = None) -> None:  # type: ignore[override]
        info = None if values is None else "  ".join(f"{k} {v:.4g}" for k, v in values.items())
        super().update(iteration, info=info)
