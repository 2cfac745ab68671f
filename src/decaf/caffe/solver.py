"""Caffe's solvers with Caffe's exact update rules (research §1.2), on decaf's CaffeNet.

One iteration follows ``Solver::Step`` then ``SGDSolver::ApplyUpdate``: test first when due,
``iter_size`` forward/backward passes accumulating gradients, clip by global L2 norm *before*
normalising by iter_size, then per parameter: normalise, regularise (L2: + wd·decay_mult·W; L1:
+ wd·decay_mult·sign W), compute the update with the solver's rule, apply W −= update. The
learning rate comes from :class:`decaf.train.schedules.LRPolicy` (Caffe's closed forms) and lives
*inside* the momentum history for SGD, as Caffe's does — unlike ``torch.optim.SGD``, so after a
step change of the rate the two differ; this one matches Caffe.

Rules (local_rate = rate · lr_mult, h = history):

- SGD: h = μh + local_rate·g; W −= h
- Nesterov: h' = μh + local_rate·g; W −= (1+μ)h' − μh
- AdaGrad: h += g²; W −= local_rate·g/(√h + δ)
- RMSProp: h = d·h + (1−d)g²; W −= local_rate·g/(√h + δ)
- AdaDelta: h = μh + (1−μ)g²; u = g·√((h2+δ)/(h+δ)); h2 = μh2 + (1−μ)u²; W −= local_rate·u
- Adam: m = β1m + (1−β1)g; v = β2v + (1−β2)g²; W −= local_rate·√(1−β2^t)/(1−β1^t)·m/(√v + ε)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decaf.caffe import io as cio
from decaf.caffe.net import TEST, TRAIN, CaffeNet, score
from decaf.core.errors import OptionError
from decaf.train.schedules import LRPolicy

SOLVER_TYPES = ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam")
_LEGACY_TYPES = {0: "SGD", 1: "Nesterov", 2: "AdaGrad", 3: "RMSProp", 4: "AdaDelta", 5: "Adam"}


def _find(path: str, base: Path) -> Path:
    p = Path(path)
    for c in (p, base / p, base / p.name):
        if c.is_file():
            return c
    raise OptionError(f"net file {path!r} not found (also looked in {base})")


class Solver:
    """``caffe.get_solver(path)``: ``.net``, ``.test_nets``, ``.iter``, ``.step(n)``, ``.solve``."""

    def __init__(
        self,
        solver: str | os.PathLike | Any,
        log: Callable[[str], None] | None = None,
        allow_python: bool = False,
    ) -> None:
        self.allow_python = allow_python
        from decaf.train import distributed

        self.world = distributed.setup()  # torchrun: gradients are averaged over the ranks
        if isinstance(solver, str | os.PathLike):
            self.path = Path(solver)
            self.param = cio.read_solver(solver)
            base = self.path.parent
        else:
            self.path, self.param, base = None, solver, Path(".")
        p = self.param
        self.base = base
        self.type = p.type if p.HasField("type") else _LEGACY_TYPES[p.solver_type]
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
        with torch.random.fork_rng(devices=[]):
            if p.random_seed >= 0:
                torch.manual_seed(p.random_seed)
            self.net = self._build(TRAIN)
            self.test_nets = [self._build(TEST, i) for i in range(self._test_count())]
        for t in self.test_nets:
            self._share(t)
        if self.world.distributed:  # every rank starts from rank 0's weights
            import torch.distributed as dist

            for param in self.net.parameters():
                dist.broadcast(param.data, 0)
        self.iter = 0
        self.history: dict[str, list[torch.Tensor]] = {}
        self.losses: list[float] = []
        self.log = log
        self.test_scores: list[dict[str, float]] = []

    # -- nets --------------------------------------------------------------------------------
    def _net_param(self, phase: int, index: int = 0) -> Any:
        p = self.param
        if p.HasField("net_param"):
            return cio.upgrade_net(type(p.net_param)(p.net_param))
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
        net = CaffeNet(self._net_param(phase, index), phase=phase, level=level, stages=stages,
                       base=self.base, allow_python=self.allow_python)  # fmt: skip
        return net.train(phase == TRAIN)

    def _share(self, test: CaffeNet) -> None:
        """Test nets use the train net's blobs by layer name (ShareTrainedLayersWith)."""
        train = {lp.name: self.net.layers[k] for k, lp in self.net.order}
        for key, lp in test.order:
            src = train.get(lp.name)
            layer = test.layers[key]
            if src is None or len(layer.blobs) != len(src.blobs):
                continue
            for i in range(len(layer.blobs)):
                layer.blobs[i] = src.blobs[i]

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

    # -- one update --------------------------------------------------------------------------
    def rate(self) -> float:
        return self.policy.rate(self.iter)

    def _apply_update(self) -> None:
        p = self.param
        rate = self.rate()
        params = self._learnable()
        grads = [param.grad if param.grad is not None else torch.zeros_like(param)
                 for _, param, _, _ in params]  # fmt: skip
        if p.clip_gradients >= 0:
            norm = math.sqrt(sum(float((g * g).sum()) for g in grads))
            if norm > p.clip_gradients:
                for g in grads:
                    g.mul_(p.clip_gradients / norm)
        mu, delta = p.momentum, p.delta
        t = self.iter + 1
        for (name, param, lr_mult, decay_mult), g in zip(params, grads, strict=True):
            g = g / p.iter_size if p.iter_size > 1 else g.clone()
            wd = p.weight_decay * decay_mult
            if wd:
                if p.regularization_type == "L2":
                    g = g + wd * param.detach()
                elif p.regularization_type == "L1":
                    g = g + wd * torch.sign(param.detach())
                else:
                    raise OptionError(f"unknown regularization_type {p.regularization_type!r}")
            local = rate * lr_mult
            h = self.history.setdefault(name, [torch.zeros_like(param)])
            kind = self.type
            if kind == "SGD":
                h[0].mul_(mu).add_(g, alpha=local)
                step = h[0]
            elif kind == "Nesterov":
                old = h[0].clone()
                h[0].mul_(mu).add_(g, alpha=local)
                step = (1 + mu) * h[0] - mu * old
            elif kind == "AdaGrad":
                h[0].add_(g * g)
                step = local * g / (h[0].sqrt() + delta)
            elif kind == "RMSProp":
                h[0].mul_(p.rms_decay).add_((1 - p.rms_decay) * g * g)
                step = local * g / (h[0].sqrt() + delta)
            elif kind == "AdaDelta":
                if len(h) == 1:
                    h.append(torch.zeros_like(param))
                h[0].mul_(mu).add_((1 - mu) * g * g)
                u = g * torch.sqrt((h[1] + delta) / (h[0] + delta))
                h[1].mul_(mu).add_((1 - mu) * u * u)
                step = local * u
            else:  # Adam
                if len(h) == 1:
                    h.append(torch.zeros_like(param))
                b1, b2 = mu, p.momentum2
                h[0].mul_(b1).add_((1 - b1) * g)
                h[1].mul_(b2).add_((1 - b2) * g * g)
                correction = math.sqrt(1 - b2**t) / (1 - b1**t)
                step = local * correction * h[0] / (h[1].sqrt() + delta)
            with torch.no_grad():
                param.sub_(step)

    def _average_gradients(self) -> None:
        """All-reduce every learnable gradient and divide by the world size (Caffe's multi-GPU
        solvers average too, so the effective batch is batch × ranks)."""
        import torch.distributed as dist

        for _, param, _, _ in self._learnable():
            if param.grad is None:
                param.grad = torch.zeros_like(param)
            dist.all_reduce(param.grad)
            param.grad.div_(self.world.size)

    def _zero_grads(self) -> None:
        for _, param, _, _ in self._learnable():
            param.grad = None

    # -- testing -----------------------------------------------------------------------------
    def test(self, index: int = 0) -> dict[str, float]:
        """Average every output of test net ``index`` over ``test_iter`` batches."""
        scores = score(self.test_nets[index], self.param.test_iter[index])
        if self.log:
            shown = ", ".join(f"{k} = {v:.4g}" for k, v in scores.items())
            self.log(f"Iteration {self.iter}, Testing net (#{index}): {shown}")
        return scores

    # -- the loop ----------------------------------------------------------------------------
    def step(self, iters: int, should_stop: Callable[[], bool] | None = None) -> bool:
        """Run ``iters`` iterations; returns True when ``should_stop`` ended it early."""
        p = self.param
        if self.iter == 0 and p.random_seed >= 0:  # dropout & co. start from random_seed
            torch.manual_seed(p.random_seed)
            np.random.seed(p.random_seed % 2**32)
        stop_at = self.iter + iters
        while self.iter < stop_at:
            due = p.test_interval and self.iter % p.test_interval == 0
            if due and (self.iter > 0 or p.test_initialization) and self.world.is_main:
                self.test_scores = [self.test(i) for i in range(len(self.test_nets))]
            self._zero_grads()
            loss = 0.0
            for _ in range(p.iter_size):
                self.net()
                total = self.net.loss()
                total.backward()
                loss += float(total.detach())
            loss /= p.iter_size
            if self.world.distributed:
                self._average_gradients()
            self.losses = (self.losses + [loss])[-max(1, p.average_loss) :]
            if self.log and self.world.is_main and p.display and self.iter % p.display == 0:
                smoothed = sum(self.losses) / len(self.losses)
                self.log(f"Iteration {self.iter}, loss = {smoothed:.5g}, lr = {self.rate():.6g}")
            self._apply_update()
            self.iter += 1
            if p.snapshot and self.iter % p.snapshot == 0 and self.world.is_main:
                self.snapshot()
            if should_stop is not None and should_stop():
                return True
        return False

    def solve(self, should_stop: Callable[[], bool] | None = None) -> dict[str, float]:
        """Run to ``max_iter``; snapshot at the end (snapshot_after_train) and test once more."""
        start = time.perf_counter()
        stopped = self.step(self.param.max_iter - self.iter, should_stop)
        if not self.world.is_main:
            self.seconds = time.perf_counter() - start
            return {}
        if self.param.snapshot_after_train or stopped:  # a stopped run keeps its work
            self.snapshot()
        if self.test_nets:
            self.test_scores = [self.test(i) for i in range(len(self.test_nets))]
        self.seconds = time.perf_counter() - start
        return self.test_scores[0] if self.test_scores else {}

    # -- snapshots ---------------------------------------------------------------------------
    def _prefix(self) -> Path:
        """Where snapshots go: a relative ``snapshot_prefix`` is taken from the solver file's
        folder (Caffe uses the working folder; the solver's is what its other paths use here)."""
        p = self.param
        if p.snapshot_prefix:
            prefix = Path(p.snapshot_prefix)
            if not prefix.is_absolute():
                prefix = self.base / prefix
                if not prefix.parent.is_dir():
                    prefix = self.base / prefix.name
            if prefix.is_dir():
                prefix = prefix / (self.path.stem if self.path else "snapshot")
            return prefix
        return self.path.with_suffix("") if self.path else Path("snapshot")

    def snapshot(self) -> tuple[Path, Path]:
        """Write ``<prefix>_iter_N.caffemodel`` and ``.solverstate`` (both atomically)."""
        prefix = self._prefix()
        model = Path(f"{prefix}_iter_{self.iter}.caffemodel")
        state_path = Path(f"{prefix}_iter_{self.iter}.solverstate")
        self.net.save(model)
        state = cio.PROTO.SolverState(iter=self.iter, learned_net=str(model))
        # Caffe's layout: every parameter's first history, then (AdaDelta/Adam) every second one
        params = self._learnable()
        per = 2 if self.type in ("AdaDelta", "Adam") else 1
        for j in range(per):
            for name, param, _, _ in params:
                hist = self.history.get(name)
                h = hist[j] if hist is not None and j < len(hist) else torch.zeros_like(param)
                state.history.append(cio.array_to_blobproto(h.detach().numpy()))
        cio.write_weights(state, state_path)
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
        self.iter = state.iter
        blobs = list(state.history)
        per = 2 if self.type in ("AdaDelta", "Adam") else 1
        params = self._learnable()
        if blobs and len(blobs) != per * len(params):
            raise OptionError(
                f"{state_path}: {len(blobs)} history blobs, this solver needs {per * len(params)}"
            )
        self.history = {}
        for i, (name, param, _, _) in enumerate(params):
            if blobs:
                self.history[name] = [
                    torch.from_numpy(
                        cio.blobproto_to_array(blobs[j * len(params) + i]).copy()
                    ).reshape(param.shape)
                    for j in range(per)
                ]


def get_solver(path: str | os.PathLike) -> Solver:
    """pycaffe's ``caffe.get_solver``."""
    return Solver(path)
