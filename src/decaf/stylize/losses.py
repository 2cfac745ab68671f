"""Losses for style transfer by optimisation, each a small class with a target and a score.

Conventions (one, documented, used everywhere):

* Features are ``(1, C, H, W)``; ``M = H·W`` positions, each a C-dimensional vector.
* **Gram**: ``G = F Fᵀ / (C·H·W)`` (neural-style's normalisation). The per-layer style loss is
  the *relative* squared error ``‖G − A‖²_F / ‖A‖²_F``, so every layer contributes on the same
  scale whatever its channel count or activation range, and style weights carry over between
  backbones and resolutions.
* **Content**: ``‖F − P‖² / ‖P‖²`` (relative), for the same reason.
* **MMD** (Li, Wang, Liu & Hou 2017, "Demystifying Neural Style Transfer"): Gram matching is MMD
  with the kernel ``(xᵀy)²``. ``mmd-linear`` uses ``k(x, y) = xᵀy``, whose MMD² is the squared
  distance between mean feature vectors, here relative to the style's second moment:
  ``‖μF − μS‖² / (‖μS‖² + ‖σS‖²)`` (the mean alone can be ≈ 0 after batch norm).
  ``mmd-gauss`` uses ``k(x, y) = exp(−‖x − y‖² / (2σ²))`` with σ² the mean squared distance
  between feature vectors (Li et al.'s choice), pooled over the style and the starting picture
  (see :meth:`MMDGaussLoss.fit`), estimated on a fixed subsample of at most ``max_positions``
  positions per image so the objective is deterministic for L-BFGS.
* **BN statistics** (Li et al.): ``(‖μF − μS‖² + ‖σF − σS‖²) / (‖μS‖² + ‖σS‖²)`` with
  per-channel mean and standard deviation over positions.
* **Total variation**: mean squared difference of neighbouring pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from decaf.core.errors import OptionError

_EPS = 1e-12


def batched_gram(f: torch.Tensor) -> torch.Tensor:
    """``F Fᵀ / (C·H·W)`` per picture: (B, C, H, W) → (B, C, C)."""
    b, c, h, w = f.shape
    flat = f.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def gram(f: torch.Tensor) -> torch.Tensor:
    """``F Fᵀ / (C·H·W)`` for features ``(1, C, H, W)`` → ``(C, C)``."""
    return batched_gram(f)[0]


def relative_sq_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``‖x − t‖² / ‖t‖²``."""
    return (x - target).pow(2).sum() / (target.pow(2).sum() + _EPS)


def batched_relative_error(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """:func:`relative_sq_error` per picture, averaged over the batch (the feed-forward
    networks' losses: each picture of a batch counts alike)."""
    dims = tuple(range(1, x.ndim))
    return ((x - target).pow(2).sum(dims) / (target.pow(2).sum(dims) + _EPS)).mean()


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative feature reconstruction error."""
    return relative_sq_error(f, target)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between vertically and horizontally adjacent pixels."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    return dh + dw


def octave(x: torch.Tensor, k: int) -> torch.Tensor:
    """``x`` halved ``k`` times (antialiased), at least 32 px on its short side: a Gram matrix
    on the halved picture sees strokes twice as large through the same layers."""
    if k == 0:
        return x
    h, w = x.shape[-2:]
    f = max(2.0**-k, 32 / min(h, w))
    size = (max(1, round(h * f)), max(1, round(w * f)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


class RandomFilters(torch.nn.Module):
    """Untrained texture features: ``filters`` seeded random 5×5 colour filters and a ReLU on
    the picture halved 1..``scales`` times (a filter at the k-th halving spans 5·2^k px; the
    full resolution is left to the loss network's shallow layers, and there these filters
    would cost more than the whole loss network). Ustyuzhaninov et al. (2016) synthesise
    textures from the Gram matrices of such features; they belong to no network family, so no
    judge shares them as it shares a pretrained loss network's."""

    def __init__(self, scales: int = 4, filters: int = 32, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(scales, filters, 3, 5, 5, generator=g)
        self.register_buffer("weight", w / w.flatten(2).norm(dim=2)[..., None, None, None])

    @property
    def names(self) -> list[str]:
        return [f"random{k + 1}" for k in range(self.weight.shape[0])]

    def forward(self, x01: torch.Tensor) -> dict[str, torch.Tensor]:
        out, x = {}, x01 - 0.5
        for k, name in enumerate(self.names):
            x = F.avg_pool2d(x, 2, ceil_mode=True)
            out[name] = F.relu(F.conv2d(x, self.weight[k], padding=2))
        return out


def _positions(f: torch.Tensor) -> torch.Tensor:
    """``(1, C, H, W)`` → ``(H·W, C)``: one row per position."""
    return f.reshape(f.shape[1], -1).t()


class StyleLoss:
    """A style statistic: ``target(style_features)`` once, then ``score(features, target)``."""

    name = "style"

    def target(self, f: torch.Tensor) -> object:
        raise NotImplementedError

    def score(self, f: torch.Tensor, target: object) -> torch.Tensor:
        raise NotImplementedError

    def fit(self, target: object, start: torch.Tensor) -> object:
        """Adapt ``target`` to the picture the optimisation starts from (default: unchanged)."""
        return target


class GramLoss(StyleLoss):
    name = "gram"

    def target(self, f: torch.Tensor) -> torch.Tensor:
        return gram(f)

    def score(self, f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return relative_sq_error(gram(f), target)


class MMDLinearLoss(StyleLoss):
    name = "mmd-linear"

    def target(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = _positions(f)
        return p.mean(0), p.pow(2).sum(1).mean()  # mean vector, second moment E‖s‖²

    def score(self, f: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mu_s, moment = target
        return (_positions(f).mean(0) - mu_s).pow(2).sum() / (moment + _EPS)


class BNStatsLoss(StyleLoss):
    name = "bn-stats"

    def target(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = _positions(f)
        return p.mean(0), p.std(0, unbiased=False)

    def score(self, f: torch.Tensor, target: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        p = _positions(f)
        mu_s, sd_s = target
        num = (p.mean(0) - mu_s).pow(2).sum() + (p.std(0, unbiased=False) - sd_s).pow(2).sum()
        return num / (mu_s.pow(2).sum() + sd_s.pow(2).sum() + _EPS)


@dataclass
class _GaussTarget:
    samples: torch.Tensor  # (N, C) style positions
    sigma2: float
    k_ss: torch.Tensor  # mean kernel value among style samples (a constant)


class MMDGaussLoss(StyleLoss):
    """Gaussian-kernel MMD², on fixed subsamples of positions (deterministic under ``seed``)."""

    name = "mmd-gauss"

    def __init__(self, max_positions: int = 1024, seed: int = 0) -> None:
        self.max_positions = max_positions
        self.seed = seed
        self._index: dict[int, torch.Tensor] = {}

    def _subsample(self, p: torch.Tensor) -> torch.Tensor:
        n = p.shape[0]
        if n <= self.max_positions:
            return p
        if n not in self._index:
            g = torch.Generator().manual_seed(self.seed + n)
            self._index[n] = torch.randperm(n, generator=g)[: self.max_positions]
        return p[self._index[n].to(p.device)]

    @staticmethod
    def _sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # expanded form: unlike cdist(...)**2 its gradient is finite at zero distance
        d2 = a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1) - 2.0 * a @ b.t()
        return d2.clamp_min(0.0)

    @classmethod
    def _kernel_mean(cls, a: torch.Tensor, b: torch.Tensor, sigma2: float) -> torch.Tensor:
        return torch.exp(-cls._sq_dist(a, b) / (2.0 * sigma2)).mean()

    def target(self, f: torch.Tensor) -> _GaussTarget:
        s = self._subsample(_positions(f)).detach()
        sigma2 = max(float(self._sq_dist(s, s).mean()), 1e-8)
        return _GaussTarget(s, sigma2, self._kernel_mean(s, s, sigma2))

    def fit(self, target: _GaussTarget, start: torch.Tensor) -> _GaussTarget:
        """Widen σ² to the mean squared distance over style *and* starting positions.

        With σ² from the style alone, a start far from the style (noise, or a photo whose
        features sit elsewhere) has every kernel value ≈ 0 and so no gradient at all. Fixed once
        per pyramid level, the objective stays deterministic for L-BFGS.
        """
        x = self._subsample(_positions(start)).detach()
        pooled = torch.cat([x, target.samples])
        sigma2 = max(target.sigma2, float(self._sq_dist(pooled, pooled).mean()))
        s = target.samples
        return _GaussTarget(s, sigma2, self._kernel_mean(s, s, sigma2))

    def score(self, f: torch.Tensor, target: _GaussTarget) -> torch.Tensor:
        x = self._subsample(_positions(f))
        k_xx = self._kernel_mean(x, x, target.sigma2)
        k_xs = self._kernel_mean(x, target.samples, target.sigma2)
        return k_xx + target.k_ss - 2.0 * k_xs


STYLE_LOSSES = {
    "gram": GramLoss,
    "mmd-linear": MMDLinearLoss,
    "mmd-gauss": MMDGaussLoss,
    "bn-stats": BNStatsLoss,
}


def make_style_loss(name: str, seed: int = 0) -> StyleLoss:
    """The style loss called ``name`` (see :data:`STYLE_LOSSES`)."""
    if name not in STYLE_LOSSES:
        raise OptionError(f"unknown style loss {name!r}; choose one of {', '.join(STYLE_LOSSES)}")
    return MMDGaussLoss(seed=seed) if name == "mmd-gauss" else STYLE_LOSSES[name]()
