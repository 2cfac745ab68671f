"""Solver = torch optimiser + learning-rate policy + Caffe's per-layer multipliers.

Caffe gives every parameter blob an ``lr_mult`` and a ``decay_mult``; fine-tuning recipes live on
them (a new head at 10×, frozen layers at 0). Here :class:`ParamRule` addresses parameters by name
pattern — a glob such as ``"classifier.*"`` or a regular expression prefixed ``re:`` — and the first
rule that matches a parameter decides its multipliers, as the one ``param {}`` block of its layer
does in Caffe. Parameters with the same multipliers share one optimiser group. A parameter with
``lr_mult == 0`` is frozen outright (``requires_grad`` off, left out of the optimiser): Caffe would
still compute its gradient, which only costs time.

The schedule is :class:`~decaf.train.schedules.LRPolicy` through ``LambdaLR``, so each group's rate
is ``rate(iteration) · lr_mult`` exactly.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from decaf.core.errors import OptionError
from decaf.train.schedules import LRPolicy, lr_lambda

OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad")


@dataclass(frozen=True)
class ParamRule:
    """Multipliers for the parameters whose names match ``pattern``."""

    pattern: str
    lr_mult: float = 1.0
    decay_mult: float = 1.0

    def matches(self, name: str) -> bool:
        if self.pattern.startswith("re:"):
            return re.search(self.pattern[3:], name) is not None
        return fnmatch.fnmatchcase(name, self.pattern)


@dataclass(frozen=True)
class SolverConfig:
    """Everything that decides how parameters move; the names follow Caffe's solver.prototxt."""

    type: str = "sgd"
    lr: LRPolicy = field(default_factory=LRPolicy)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    rms_decay: float = 0.99
    rules: Sequence[ParamRule] = ()
    # torchvision's --norm-weight-decay 0 / MMEngine's norm_decay_mult=0 and bias_decay_mult=0:
    # no decay on 1-D parameters (biases, norm scales) unless a rule says otherwise.
    decay_1d: bool = True
    iter_size: int = 1
    clip_gradients: float | None = None

    def __post_init__(self) -> None:
        if self.type not in OPTIMIZERS:
            raise OptionError(
                f"unknown solver type {self.type!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.iter_size < 1:
            raise OptionError(f"iter_size must be ≥ 1, got {self.iter_size}")
        if self.clip_gradients is not None and self.clip_gradients <= 0:
            raise OptionError(f"clip_gradients must be > 0, got {self.clip_gradients}")
        if self.weight_decay < 0 or self.momentum < 0:
            raise OptionError("weight_decay and momentum must be ≥ 0")
        if self.type == "nesterov" and self.momentum <= 0:
            raise OptionError("the nesterov solver needs momentum > 0")


def assign_multipliers(
    model: nn.Module, rules: Sequence[ParamRule], decay_1d: bool = True
) -> dict[str, tuple[float, float]]:
    """``{parameter name: (lr_mult, decay_mult)}`` for every parameter of ``model``."""
    out: dict[str, tuple[float, float]] = {}
    used = [False] * len(rules)
    for name, param in model.named_parameters():
        for i, rule in enumerate(rules):
            if rule.matches(name):
                out[name] = (rule.lr_mult, rule.decay_mult)
                used[i] = True
                break
        else:
            out[name] = (1.0, 1.0 if decay_1d or param.ndim > 1 else 0.0)
    unused = [r.pattern for r, u in zip(rules, used, strict=True) if not u]
    if unused:
        raise OptionError(
            f"no parameter matches {', '.join(map(repr, unused))}; "
            f"parameter names look like {next(iter(out), '(none)')!r}"
        )
    return out


def param_groups(model: nn.Module, config: SolverConfig) -> list[dict]:
    """Optimiser groups, one per distinct (lr_mult, decay_mult); lr_mult 0 freezes."""
    mults = assign_multipliers(model, config.rules, config.decay_1d)
    groups: dict[tuple[float, float], dict] = {}
    for name, param in model.named_parameters():
        lr_mult, decay_mult = mults[name]
        if lr_mult == 0 or not param.requires_grad:
            param.requires_grad_(False)
            continue
        group = groups.setdefault(
            (lr_mult, decay_mult),
            {
                "params": [],
                "names": [],
                "lr": config.lr.base_lr * lr_mult,
                "weight_decay": config.weight_decay * decay_mult,
                "lr_mult": lr_mult,
                "decay_mult": decay_mult,
            },
        )
        group["params"].append(param)
        group["names"].append(name)
    if not groups:
        raise OptionError("nothing to train: every parameter is frozen")
    return list(groups.values())


def build_optimizer(model: nn.Module, config: SolverConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, config)
    lr = config.lr.base_lr
    t = config.type
    if t in ("sgd", "nesterov"):
        return torch.optim.SGD(groups, lr=lr, momentum=config.momentum, nesterov=(t == "nesterov"))
    if t == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=config.betas, eps=config.eps)
    if t == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=config.betas, eps=config.eps)
    if t == "rmsprop":
        return torch.optim.RMSprop(
            groups, lr=lr, alpha=config.rms_decay, eps=config.eps, momentum=config.momentum
        )
    return torch.optim.Adagrad(groups, lr=lr, eps=config.eps)


def build_solver(
    model: nn.Module, config: SolverConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser and its scheduler; call ``scheduler.step()`` once per update."""
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config.lr))
    return optimizer, scheduler
