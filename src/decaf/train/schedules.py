"""Learning-rate policies: Caffe's seven, plus linear warm-up and cosine, as plain functions.

Each policy maps the number of updates already applied (``iteration``) to the learning rate,
with Caffe's exact closed forms (``SGDSolver::GetLearningRate``):

- ``fixed``: base_lr
- ``step``: base_lr · γ^⌊iter/stepsize⌋
- ``exp``: base_lr · γ^iter
- ``inv``: base_lr · (1 + γ·iter)^(−power)
- ``multistep``: base_lr · γ^k, k = how many stepvalues iter has reached
- ``poly``: base_lr · (1 − iter/max_iter)^power
- ``sigmoid``: base_lr / (1 + exp(−γ·(iter − stepsize)))
- ``cosine``: base_lr · ½(1 + cos(π·iter/max_iter))  (not in Caffe)

``warmup_iters`` ramps any policy linearly from ``warmup_factor``·lr to lr. :func:`lr_lambda`
gives the multiplier form ``torch.optim.lr_scheduler.LambdaLR`` wants, so a torch optimiser
follows a Caffe ``solver.prototxt`` schedule exactly. (Caffe's multistep advances its step
counter by at most one per call; with one call per iteration, as here, that equals the count.)

Note Caffe's SGD keeps the learning rate *inside* the momentum buffer, torch's outside; the two
updates agree only while the rate is constant. That difference belongs to the solver, not here.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from decaf.core.errors import OptionError

POLICIES = ("fixed", "step", "exp", "inv", "multistep", "poly", "sigmoid", "cosine")


@dataclass(frozen=True)
class LRPolicy:
    """A learning-rate schedule with Caffe's parameter names."""

    policy: str = "fixed"
    base_lr: float = 0.01
    gamma: float = 0.1
    power: float = 1.0
    stepsize: int = 1
    stepvalue: Sequence[int] = field(default_factory=tuple)
    max_iter: int = 0
    warmup_iters: int = 0
    warmup_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise OptionError(
                f"unknown lr_policy {self.policy!r}; choose one of {', '.join(POLICIES)}"
            )
        if self.policy == "step" and self.stepsize <= 0:
            raise OptionError(f"lr_policy step needs stepsize > 0, got {self.stepsize}")
        if self.policy in ("poly", "cosine") and self.max_iter <= 0:
            raise OptionError(f"lr_policy {self.policy} needs max_iter > 0, got {self.max_iter}")
        if self.policy == "multistep" and list(self.stepvalue) != sorted(self.stepvalue):
            raise OptionError(f"multistep stepvalues must rise, got {list(self.stepvalue)}")
        if self.warmup_iters < 0 or not 0.0 <= self.warmup_factor <= 1.0:
            raise OptionError("warmup_iters must be ≥ 0 and warmup_factor in 0..1")

    def rate(self, iteration: int) -> float:
        """The learning rate for the update after ``iteration`` updates."""
        it = iteration
        p = self.policy
        if p == "fixed":
            lr = self.base_lr
        elif p == "step":
            lr = self.base_lr * self.gamma ** (it // self.stepsize)
        elif p == "exp":
            lr = self.base_lr * self.gamma**it
        elif p == "inv":
            lr = self.base_lr * (1.0 + self.gamma * it) ** (-self.power)
        elif p == "multistep":
            lr = self.base_lr * self.gamma ** bisect.bisect_right(list(self.stepvalue), it)
        elif p == "poly":
            lr = self.base_lr * max(0.0, 1.0 - it / self.max_iter) ** self.power
        elif p == "sigmoid":
            lr = self.base_lr / (1.0 + math.exp(-self.gamma * (it - self.stepsize)))
        else:  # cosine
            lr = (
                self.base_lr
                * 0.5
                * (1.0 + math.cos(math.pi * min(it, self.max_iter) / self.max_iter))
            )
        if it < self.warmup_iters:
            alpha = it / self.warmup_iters
            lr *= self.warmup_factor * (1.0 - alpha) + alpha
        return lr


def lr_lambda(policy: LRPolicy) -> Callable[[int], float]:
    """Multiplier of ``base_lr`` for ``torch.optim.lr_scheduler.LambdaLR``."""
    if policy.base_lr == 0:
        return lambda it: 0.0
    return lambda it: policy.rate(it) / policy.base_lr
