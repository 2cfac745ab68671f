from __future__ import annotations

import pytest
import torch
from torch import nn

from decaf.core.errors import OptionError
from decaf.train.schedules import LRPolicy
from decaf.train.solver import ParamRule, SolverConfig, assign_multipliers, build_solver


def _named() -> nn.Module:
    torch.manual_seed(0)
    m = nn.Module()
    m.features = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    m.head = nn.Linear(4, 2)
    return m


def test_first_matching_rule_wins_and_defaults_apply() -> None:
    rules = [
        ParamRule("head.weight", 10, 1),
        ParamRule("head.*", 20, 0),
        ParamRule("re:^feat", 0.1),
    ]
    mults = assign_multipliers(_named(), rules)
    assert mults["head.weight"] == (10, 1)
    assert mults["head.bias"] == (20, 0)
    assert mults["features.0.weight"] == (0.1, 1.0)
    assert mults["features.1.bias"] == (0.1, 1.0)


def test_unmatched_rule_is_an_error_naming_it() -> None:
    with pytest.raises(OptionError, match="'fc.*'"):
        assign_multipliers(_named(), [ParamRule("fc.*", 10)])


def test_no_decay_on_1d_parameters_when_asked() -> None:
    mults = assign_multipliers(_named(), [], decay_1d=False)
    assert mults["features.0.weight"] == (1.0, 1.0)
    assert mults["features.0.bias"] == (1.0, 0.0)
    assert mults["features.1.weight"] == (1.0, 0.0)


def test_groups_carry_lr_and_decay_multipliers_through_the_schedule() -> None:
    model = _named()
    cfg = SolverConfig(
        lr=LRPolicy("step", base_lr=0.01, gamma=0.5, stepsize=2),
        weight_decay=1e-3,
        rules=[ParamRule("head.*", 10, 2), ParamRule("features.1.*", 0)],
    )
    opt, sched = build_solver(model, cfg)
    by_mult = {g["lr_mult"]: g for g in opt.param_groups}
    assert set(by_mult) == {1.0, 10.0}
    assert by_mult[10.0]["weight_decay"] == pytest.approx(2e-3)
    assert by_mult[10.0]["names"] == ["head.weight", "head.bias"]
    # lr_mult 0 freezes: not in the optimiser, no gradient
    assert not model.features[1].weight.requires_grad
    assert all("features.1" not in n for g in opt.param_groups for n in g["names"])
    seen = []
    for _ in range(5):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    for it, lrs in enumerate(seen):
        expected = 0.01 * 0.5 ** (it // 2)
        assert lrs == pytest.approx([expected * g["lr_mult"] for g in opt.param_groups])


@pytest.mark.parametrize("kind", ["sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad"])
def test_every_optimiser_builds_and_steps(kind: str) -> None:
    model = _named()
    opt, sched = build_solver(model, SolverConfig(type=kind))
    before = model.head.weight.detach().clone()
    model.head(torch.ones(1, 4)).sum().backward()
    opt.step()
    sched.step()
    assert not torch.equal(before, model.head.weight)


def test_bad_solver_settings_are_option_errors() -> None:
    with pytest.raises(OptionError, match="solver type"):
        SolverConfig(type="lbfgs")
    with pytest.raises(OptionError, match="iter_size"):
        SolverConfig(iter_size=0)
    with pytest.raises(OptionError, match="frozen"):
        build_solver(_named(), SolverConfig(rules=[ParamRule("*", 0)]))
