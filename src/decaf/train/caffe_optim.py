"""Caffe's update rules as a torch optimiser, and Caffe's learning rate as a scheduler.

One :meth:`CaffeOptimizer.step` is ``SGDSolver::ApplyUpdate`` (research §1.2): average the
gradients over the ranks (Caffe's multi-GPU solvers average, so the effective batch is
batch × ranks), clip by the global L2 norm *before* normalising by ``iter_size``, then per
parameter: normalise, regularise (L2: + wd·decay_mult·W; L1: + wd·decay_mult·sign W), compute
the update with the solver's rule, W −= update. The rate lives *inside* the momentum history,
as Caffe's does — unlike ``torch.optim.SGD``, so after a step change of the rate the two differ;
this one matches Caffe.

Rules (local_rate = rate · lr_mult, the group's ``lr``; h = history):

- SGD: h = μh + local_rate·g; W −= h
- Nesterov: h' = μh + local_rate·g; W −= (1+μ)h' − μh
- AdaGrad: h += g²; W −= local_rate·g/(√h + δ)
- RMSProp: h = d·h + (1−d)g²; W −= local_rate·g/(√h + δ)
- AdaDelta: h = μh + (1−μ)g²; u = g·√((h2+δ)/(h+δ)); h2 = μh2 + (1−μ)u²; W −= local_rate·u
- Adam: m = β1m + (1−β1)g; v = β2v + (1−β2)g²; W −= local_rate·√(1−β2^t)/(1−β1^t)·m/(√v + ε)

Each parameter's state holds ``history`` (one tensor, two for AdaDelta and Adam: Caffe's
solverstate layout) and ``iteration`` (Adam's t − 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from decaf.core.errors import OptionError
from decaf.train.schedules import LRPolicy

RULES = ("SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam")


class CaffeOptimizer(torch.optim.Optimizer):
    """Caffe's solvers. ``params``: groups with ``lr_mult`` and ``decay_mult`` (one group per
    parameter blob, as Caffe keeps them); the group's ``lr`` is set by :class:`CaffeRate`."""

    def __init__(self, params: Iterable[dict[str, Any]], rule: str = "SGD", momentum: float = 0.0,
                 weight_decay: float = 0.0, regularization: str = "L2", delta: float = 1e-8,
                 momentum2: float = 0.999, rms_decay: float = 0.99, iter_size: int = 1,
                 clip_gradients: float = -1.0, world_size: int = 1) -> None:  # fmt: skip
        if rule not in RULES:
            raise OptionError(f"unknown solver type {rule!r}; Caffe has {RULES}")
        if regularization not in ("L1", "L2"):
            raise OptionError(f"unknown regularization_type {regularization!r}")
        defaults = {"lr": 0.0, "lr_mult": 1.0, "decay_mult": 1.0}
        super().__init__(params, defaults)
        self.rule, self.momentum, self.weight_decay = rule, momentum, weight_decay
        self.regularization, self.delta = regularization, delta
        self.momentum2, self.rms_decay = momentum2, rms_decay
        self.iter_size, self.clip_gradients, self.world_size = iter_size, clip_gradients, world_size

    def params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # noqa: ARG002 (torch's signature)
        params = self.params()
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if self.world_size > 1:
            import torch.distributed as dist

            for p in params:
                dist.all_reduce(p.grad)
                p.grad.div_(self.world_size)
        if self.clip_gradients >= 0:
            norm = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in params))
            if norm > self.clip_gradients:
                for p in params:
                    p.grad.mul_(self.clip_gradients / norm)
        for group in self.param_groups:
            for p in group["params"]:
                p.sub_(self._update(p, group))

    def _update(self, p: torch.nn.Parameter, group: dict[str, Any]) -> torch.Tensor:
        g = p.grad / self.iter_size if self.iter_size > 1 else p.grad.clone()
        wd = self.weight_decay * group["decay_mult"]
        if wd:
            g = g + wd * (p if self.regularization == "L2" else torch.sign(p))
        state = self.state[p]
        h = state.setdefault("history", [torch.zeros_like(p)])
        t = state.get("iteration", 0) + 1
        state["iteration"] = t
        return _RULES[self.rule](self, h, g, group["lr"], t)

    def _sgd(self, h: list[torch.Tensor], g: torch.Tensor, local: float, _t: int) -> torch.Tensor:
        h[0].mul_(self.momentum).add_(g, alpha=local)
        return h[0]

    def _nesterov(self, h: list[torch.Tensor], g: torch.Tensor, local: float,
                  _t: int) -> torch.Tensor:  # fmt: skip
        old = h[0].clone()
        h[0].mul_(self.momentum).add_(g, alpha=local)
        return (1 + self.momentum) * h[0] - self.momentum * old

    def _adagrad(self, h: list[torch.Tensor], g: torch.Tensor, local: float,
                 _t: int) -> torch.Tensor:  # fmt: skip
        h[0].add_(g * g)
        return local * g / (h[0].sqrt() + self.delta)

    def _rmsprop(self, h: list[torch.Tensor], g: torch.Tensor, local: float,
                 _t: int) -> torch.Tensor:  # fmt: skip
        h[0].mul_(self.rms_decay).add_((1 - self.rms_decay) * g * g)
        return local * g / (h[0].sqrt() + self.delta)

    def _adadelta(self, h: list[torch.Tensor], g: torch.Tensor, local: float,
                  _t: int) -> torch.Tensor:  # fmt: skip
        if len(h) == 1:
            h.append(torch.zeros_like(g))
        mu, delta = self.momentum, self.delta
        h[0].mul_(mu).add_((1 - mu) * g * g)
        u = g * torch.sqrt((h[1] + delta) / (h[0] + delta))
        h[1].mul_(mu).add_((1 - mu) * u * u)
        return local * u

    def _adam(self, h: list[torch.Tensor], g: torch.Tensor, local: float, t: int) -> torch.Tensor:
        if len(h) == 1:
            h.append(torch.zeros_like(g))
        b1, b2 = self.momentum, self.momentum2
        h[0].mul_(b1).add_((1 - b1) * g)
        h[1].mul_(b2).add_((1 - b2) * g * g)
        correction = math.sqrt(1 - b2**t) / (1 - b1**t)
        return local * correction * h[0] / (h[1].sqrt() + self.delta)

    def histories(self, per: int) -> list[list[torch.Tensor]]:
        """Every parameter's ``per`` history tensors (zeros before the first update)."""
        out = []
        for p in self.params():
            h = list(self.state[p].get("history", []))[:per]
            out.append(h + [torch.zeros_like(p) for _ in range(per - len(h))])
        return out

    def set_state(self, histories: list[list[torch.Tensor]], iteration: int) -> None:
        """Continue from a solverstate: every parameter's histories and the iteration."""
        for p, h in zip(self.params(), histories, strict=True):
            self.state[p] = {"history": [t.to(p) for t in h], "iteration": iteration}


_RULES = {"SGD": CaffeOptimizer._sgd, "Nesterov": CaffeOptimizer._nesterov,
          "AdaGrad": CaffeOptimizer._adagrad, "RMSProp": CaffeOptimizer._rmsprop,
          "AdaDelta": CaffeOptimizer._adadelta, "Adam": CaffeOptimizer._adam}  # fmt: skip


class CaffeRate(torch.optim.lr_scheduler.LRScheduler):
    """Each group's ``lr`` = ``policy.rate(iteration) · lr_mult``: the very product Caffe
    computes, so updates stay bit-identical to Caffe's formula."""

    def __init__(self, optimizer: torch.optim.Optimizer, policy: LRPolicy) -> None:
        self.policy = policy
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        rate = self.policy.rate(self.last_epoch)
        return [rate * g["lr_mult"] for g in self.optimizer.param_groups]

    def jump(self, iteration: int) -> None:
        """Continue at ``iteration`` (after a restore)."""
        self.last_epoch = iteration
        rate = self.policy.rate(iteration)
        for group in self.optimizer.param_groups:
            group["lr"] = rate * group["lr_mult"]
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
