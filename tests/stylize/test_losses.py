"""Each loss against small cases computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from decaf.core.errors import OptionError
from decaf.stylize.losses import (
    BNStatsLoss,
    GramLoss,
    MMDGaussLoss,
    MMDLinearLoss,
    content_loss,
    gram,
    make_style_loss,
    total_variation,
)

# Two channels over a 1×2 image: positions p1 = (1, 3), p2 = (2, 4).
F1 = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
# Positions q1 = (0, 1), q2 = (2, 1).
F2 = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]]])


def test_gram_by_hand():
    # F Fᵀ = [[1+4, 3+8], [3+8, 9+16]] = [[5, 11], [11, 25]]; / (C·H·W = 4)
    assert torch.allclose(gram(F1), torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4)


def test_gram_loss_relative_error_by_hand():
    loss = GramLoss()
    a = loss.target(F1)  # [[5, 11], [11, 25]] / 4
    g2 = gram(F2)  # [[4, 2], [2, 2]] / 4
    expected = ((5 - 4) ** 2 + 2 * (11 - 2) ** 2 + (25 - 2) ** 2) / (25 + 2 * 121 + 625)
    assert math.isclose(float(loss.score(F2, a)), expected, rel_tol=1e-6)
    assert float(loss.score(F1, a)) == 0.0
    assert torch.allclose(g2, torch.tensor([[4.0, 2.0], [2.0, 2.0]]) / 4)


def test_mmd_linear_is_mean_vector_distance():
    loss = MMDLinearLoss()
    mu, moment = loss.target(F1)  # mean position (1.5, 3.5); E‖s‖² = (10 + 20) / 2
    assert torch.allclose(mu, torch.tensor([1.5, 3.5])) and float(moment) == 15.0
    # mean of F2 = (1, 1): ‖(0.5, 2.5)‖² / 15 = 6.5 / 15
    assert math.isclose(float(loss.score(F2, (mu, moment))), 6.5 / 15, rel_tol=1e-6)


def test_bn_stats_by_hand():
    loss = BNStatsLoss()
    mu, sd = loss.target(F1)  # means (1.5, 3.5), population std (0.5, 0.5)
    assert torch.allclose(mu, torch.tensor([1.5, 3.5])) and torch.allclose(
        sd, torch.tensor([0.5, 0.5])
    )
    # F2: means (1, 1), stds (1, 0) → (0.25 + 6.25 + 0.25 + 0.25) / (2.25 + 12.25 + 0.25 + 0.25)
    assert math.isclose(float(loss.score(F2, (mu, sd))), 7.0 / 15.0, rel_tol=1e-6)


def test_mmd_gauss_by_hand():
    loss = MMDGaussLoss()
    t = loss.target(F1)
    # style positions (1,3), (2,4): squared distances 0, 2, 2, 0 → σ² = mean = 1
    assert math.isclose(t.sigma2, 1.0, rel_tol=1e-6)

    def k(a, b):
        return math.exp(-((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) / 2.0)

    p = [(1, 3), (2, 4)]
    q = [(0, 1), (2, 1)]
    mean = lambda xs, ys: sum(k(a, b) for a in xs for b in ys) / (len(xs) * len(ys))  # noqa: E731
    expected = mean(q, q) + mean(p, p) - 2 * mean(q, p)
    assert math.isclose(float(loss.score(F2, t)), expected, rel_tol=1e-5)
    assert abs(float(loss.score(F1, t))) < 1e-6
    # fitting to a far-away start widens σ² to the pooled mean squared distance
    far = F1 + 100.0
    wide = loss.fit(t, far)
    assert wide.sigma2 > 1000 * t.sigma2
    assert abs(float(loss.score(F1, wide))) < 1e-6


def test_mmd_gauss_subsample_is_fixed():
    loss = MMDGaussLoss(max_positions=16, seed=3)
    f = torch.randn(1, 4, 10, 10)
    t = loss.target(f)
    assert t.samples.shape == (16, 4)
    g = torch.randn(1, 4, 10, 10)
    assert float(loss.score(g, t)) == float(loss.score(g, t))  # deterministic objective


def test_content_and_tv_by_hand():
    assert math.isclose(float(content_loss(F2, F1)), ((1 + 0 + 4 + 9) / 30), rel_tol=1e-6)
    x = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])
    # vertical diffs (1, 0) → mean 0.5; horizontal diffs (1, 0) → mean 0.5
    assert math.isclose(float(total_variation(x)), 1.0)


def test_losses_are_differentiable_and_named():
    for name in ("gram", "mmd-linear", "mmd-gauss", "bn-stats"):
        loss = make_style_loss(name)
        t = loss.target(torch.randn(1, 3, 5, 5))
        f = torch.randn(1, 3, 5, 5, requires_grad=True)
        loss.score(f, t).backward()
        assert f.grad is not None and torch.isfinite(f.grad).all()
    with pytest.raises(OptionError, match="unknown style loss"):
        make_style_loss("wasserstein")
