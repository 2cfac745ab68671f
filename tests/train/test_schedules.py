"""Caffe's learning-rate policies against hand-computed values, and through torch's LambdaLR."""

from __future__ import annotations

import math

import pytest
import torch

from decaf.core.errors import OptionError
from decaf.train.schedules import LRPolicy, lr_lambda


@pytest.mark.parametrize(
    ("policy", "iteration", "expected"),
    [
        (LRPolicy("fixed", base_lr=0.01), 500, 0.01),
        (LRPolicy("step", base_lr=0.01, gamma=0.1, stepsize=100), 99, 0.01),
        (LRPolicy("step", base_lr=0.01, gamma=0.1, stepsize=100), 100, 0.001),
        (LRPolicy("step", base_lr=0.01, gamma=0.1, stepsize=100), 250, 0.0001),
        (LRPolicy("exp", base_lr=0.01, gamma=0.5), 3, 0.00125),
        # LeNet's solver: inv, γ 1e-4, power 0.75 — at iteration 10 000: 0.01·2^−0.75
        (LRPolicy("inv", base_lr=0.01, gamma=1e-4, power=0.75), 10_000, 0.01 * 2**-0.75),
        (LRPolicy("multistep", base_lr=1.0, gamma=0.5, stepvalue=(10, 20)), 9, 1.0),
        (LRPolicy("multistep", base_lr=1.0, gamma=0.5, stepvalue=(10, 20)), 10, 0.5),
        (LRPolicy("multistep", base_lr=1.0, gamma=0.5, stepvalue=(10, 20)), 25, 0.25),
        (LRPolicy("poly", base_lr=0.1, power=2.0, max_iter=100), 50, 0.025),
        (LRPolicy("poly", base_lr=0.1, power=2.0, max_iter=100), 100, 0.0),
        (LRPolicy("sigmoid", base_lr=0.2, gamma=0.1, stepsize=50), 50, 0.1),
        (LRPolicy("sigmoid", base_lr=0.2, gamma=0.1, stepsize=50), 60, 0.2 / (1 + math.exp(-1))),
        (LRPolicy("cosine", base_lr=0.1, max_iter=100), 50, 0.05),
        (LRPolicy("cosine", base_lr=0.1, max_iter=100), 100, 0.0),
    ],
)
def test_policies_by_hand(policy, iteration, expected):
    assert math.isclose(policy.rate(iteration), expected, rel_tol=1e-9, abs_tol=1e-15)


def test_warmup_ramps_linearly_into_the_policy():
    p = LRPolicy("step", base_lr=0.1, gamma=0.1, stepsize=1000, warmup_iters=10, warmup_factor=0.1)
    assert math.isclose(p.rate(0), 0.01)
    assert math.isclose(p.rate(5), 0.1 * (0.1 * 0.5 + 0.5))
    assert p.rate(10) == 0.1


def test_lambda_lr_follows_the_policy_exactly():
    p = LRPolicy("multistep", base_lr=0.05, gamma=0.1, stepvalue=(3, 5))
    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=p.base_lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(p))
    seen = []
    for _ in range(7):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [p.rate(i) for i in range(7)]
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(seen, expected, strict=True))
    assert math.isclose(seen[3], 0.005) and math.isclose(seen[5], 0.0005)


def test_bad_policies_are_refused():
    for kwargs in (
        {"policy": "triangular"},
        {"policy": "step", "stepsize": 0},
        {"policy": "poly"},
        {"policy": "multistep", "stepvalue": (20, 10)},
        {"warmup_iters": -1},
    ):
        with pytest.raises(OptionError):
            LRPolicy(**kwargs)
