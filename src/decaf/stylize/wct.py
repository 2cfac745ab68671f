"""Universal style transfer (Li et al., NeurIPS 2017): whitening and colouring transforms.

Any style picture, no style seen in training: a frozen zoo encoder gives features at a few
depths; at each, the content features are *whitened* (their channel covariance made the
identity) and *coloured* with the style's covariance and mean, then a decoder that only ever
learnt to reconstruct pictures from that depth turns them back into a picture. The levels run
deep to shallow, each starting from the previous level's picture: the deep level lays the
large strokes and the shallow ones the colours and fine texture.

Everything between encoder and decoder is an affine map of the channels,
``t = A (f − μ_c) + b``: a blend of styles is a blend of their (A, b), and alpha mixes A with
the identity. That is what lets tiles of a large picture share one transform (computed from a
preview of the whole picture), so tiles agree where they meet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from decaf.core.errors import OptionError
from decaf.stylize.nets import decoder

EPS = 1e-5  #: eigenvalues below this (relative to the largest) are dropped, as Li et al. do


@dataclass(frozen=True)
class Moments:
    """Channel mean (C, 1) and the eigen-decomposition of the channel covariance, float64."""

    mean: torch.Tensor
    values: torch.Tensor
    vectors: torch.Tensor


#: moments are estimated from at most this many positions (evenly strided): at 1024² the
#: shallow level has 262 144, and its covariance from every position cost 0.2 s
SAMPLE = 1 << 16


def moments(f: torch.Tensor) -> Moments:
    """The first two moments of one picture's (1, C, H, W) features, over its positions."""
    c = f.shape[1]
    x = f[0].reshape(c, -1)
    if x.shape[1] > SAMPLE:
        x = x[:, :: -(-x.shape[1] // SAMPLE)]
    mean = x.double().mean(1, keepdim=True)
    x = x - mean.to(x)  # centred in float32: the product's error stays far below the spread
    cov = (x @ x.T).double() / max(x.shape[1] - 1, 1)
    values, vectors = torch.linalg.eigh(cov)
    return Moments(mean, values.clamp_min(0), vectors)


def _power(m: Moments, p: float) -> torch.Tensor:
    """cov^p over the eigenvalues kept (the rest contribute nothing)."""
    keep = m.values > EPS * max(float(m.values.max()), EPS)
    d = torch.where(keep, m.values.clamp_min(EPS) ** p, torch.zeros_like(m.values))
    return m.vectors @ torch.diag(d) @ m.vectors.T


@dataclass(frozen=True)
class Affine:
    """``t = matrix @ (f − center) + offset`` over channels, float32, ready for a 1×1 map."""

    matrix: torch.Tensor
    center: torch.Tensor
    offset: torch.Tensor

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        b, c, h, w = f.shape
        x = f.reshape(b, c, h * w) - self.center.to(f)
        t = torch.matmul(self.matrix.to(f), x) + self.offset.to(f)
        return t.reshape(b, c, h, w)


def transform(content: Moments, styles: Sequence[Moments], weights: Sequence[float],
              alpha: float = 1.0) -> Affine:  # fmt: skip
    """The WCT of ``content`` towards a ``weights`` blend of ``styles``, mixed with the
    untouched features by ``alpha`` (0 gives the identity: the content's own features)."""
    if len(styles) != len(weights) or not styles:
        raise OptionError(f"{len(weights)} weights for {len(styles)} styles")
    total = float(sum(weights))
    white = _power(content, -0.5)
    eye = torch.eye(white.shape[0], dtype=white.dtype)
    matrix = sum(w / total * (_power(s, 0.5) @ white) for s, w in zip(styles, weights, strict=True))
    offset = sum(w / total * s.mean for s, w in zip(styles, weights, strict=True))
    matrix = alpha * matrix + (1 - alpha) * eye
    offset = alpha * offset + (1 - alpha) * content.mean
    return Affine(matrix.float(), content.mean.float(), offset.float())


def _key(level: str) -> str:
    return level.replace(".", "_")  # ModuleDict keys cannot hold dots


class WCTNet(nn.Module):
    """Frozen encoders cut at ``levels`` (deep to shallow) with one reconstruction decoder each.

    ``encoders``: ``{level: module returning that level's features}`` (zoo :class:`Encoder` s;
    the first, deepest, returns every level);
    ``shapes``: ``{level: (channels, stride)}``. Only the decoders train, and only they are
    kept in a bundle. Running the levels is :meth:`decaf.stylize.predict.FastStylizer._wct`.
    """

    def __init__(self, encoders: dict[str, nn.Module], shapes: dict[str, tuple[int, int]],
                 width: int = 32) -> None:  # fmt: skip
        super().__init__()
        if not encoders:
            raise OptionError("WCT needs at least one level")
        self.levels = list(encoders)
        self.encoders = nn.ModuleDict({_key(k): e for k, e in encoders.items()})
        for p in self.encoders.parameters():
            p.requires_grad_(False)
        self.decoders = nn.ModuleDict({_key(k): decoder(*shapes[k], width) for k in self.levels})
        self.shapes = {k: shapes[k] for k in self.levels}  #: level → (channels, stride)
        self.stride = max(stride for _, stride in self.shapes.values())  # pictures pad to it

    def encode(self, level: str, x: torch.Tensor) -> torch.Tensor:
        out = self.encoders[_key(level)](x)
        return out[level] if isinstance(out, dict) else out

    def encode_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every level's features of one picture, in one pass of the deepest encoder."""
        out = self.encoders[_key(self.levels[0])](x)
        return {k: out[k] for k in self.levels}

    def decode(self, level: str, t: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoders[_key(level)](t))
