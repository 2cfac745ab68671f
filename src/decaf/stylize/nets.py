"""Feed-forward style networks, designed for CPU speed.

Johnson et al.'s transformer (c9s1-32, d64, d128, 5 residual blocks at 1/4 scale, two
transposed convolutions) costs about 1.6 s per 512² picture in eager PyTorch on 2 cores.
``TransformNet`` keeps its shape — downsample, residual blocks, upsample, instance norm — but:

* downsamples three times (to 1/8) with small 3×3 strided convolutions, so the residual blocks
  work on 64× fewer positions than the picture;
* uses depthwise-separable residual blocks (3×3 depthwise + 1×1 pointwise);
* upsamples by nearest neighbour + convolution, which has no checkerboard artefacts
  (fast-neural-style#37);
* runs channels-last.

Every normalisation is a :class:`CondInstanceNorm` (Dumoulin et al.'s conditional instance
norm): one (γ, β) row per style. One style is Johnson's network; N styles is the multi-style
CIN network, where a blend of styles is the same blend of their (γ, β) rows and a new style is
learnt by training only a new row.

:class:`StyleBankNet` (Chen et al. 2017) shares an encoder/decoder and gives each style its own
filter bank between them; a new style trains only its bank. :class:`AdaINNet` (Huang & Belongie
2017) encodes with a frozen zoo backbone prefix, matches channel mean/std to the style's, and
decodes with a trained decoder.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from decaf.core.errors import OptionError


class CondInstanceNorm(nn.Module):
    """Instance norm whose affine (γ, β) is picked — or blended — per style."""

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(styles, channels))
        self.beta = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``weights``: (B, N) blend of the N styles per picture (a one-hot row picks one)."""
        return _affine_norm(x, weights @ self.gamma, weights @ self.beta)

    def add_style(self, like: int | None = None) -> None:
        """Append a style row (a copy of style ``like``, else the identity affine)."""
        g = (
            self.gamma.data[like : like + 1]
            if like is not None
            else torch.ones_like(self.gamma[:1])
        )
        b = self.beta.data[like : like + 1] if like is not None else torch.zeros_like(self.beta[:1])
        self.gamma = nn.Parameter(torch.cat([self.gamma.data, g.clone()]))
        self.beta = nn.Parameter(torch.cat([self.beta.data, b.clone()]))


@dataclass
class StatsTape:
    """Per-picture statistics of every instance norm (and AdaIN), recorded or replayed.

    Tiling a picture changes what each tile's instance norms see, which shows as seams. With
    :func:`shared_statistics` the statistics are recorded once on a preview of the whole picture
    and replayed, in the same order, for every tile, so all tiles are normalised alike.

    One tape belongs to one call: :func:`shared_statistics` makes a new one and installs it in a
    :class:`contextvars.ContextVar`, which each thread (and each asyncio task) sees on its own,
    so concurrent tiled stylizations never read each other's statistics.
    """

    mode: str
    values: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    pos: int = 0

    def stats(self, x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mode == "replay":
            if self.pos >= len(self.values):
                raise OptionError("replayed statistics do not fit this network")
            mean, inv = self.values[self.pos]
            self.pos += 1
            return mean, inv
        mean, inv = _own_stats(x, eps)
        self.values.append((mean, inv))
        return mean, inv


_TAPE: contextvars.ContextVar[StatsTape | None] = contextvars.ContextVar("decaf_tape", default=None)


@contextlib.contextmanager
def shared_statistics(mode: str, values: list | None = None) -> Iterator[list]:
    """``mode="record"`` collects the statistics of one forward pass into the yielded list;
    ``mode="replay"`` uses ``values`` (a recorded list) instead of the input's own."""
    if mode not in ("record", "replay"):
        raise OptionError(f"mode must be record or replay, got {mode!r}")
    tape = StatsTape(mode, values if values is not None else [])
    token = _TAPE.set(tape)
    try:
        yield tape.values
    finally:
        _TAPE.reset(token)


def _own_stats(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, unbiased=False)
    return mean, torch.rsqrt(var + eps)


def _stats(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, 1/std) per picture and channel, through this call's tape when one is active."""
    tape = _TAPE.get()
    return tape.stats(x, eps) if tape is not None else _own_stats(x, eps)


def _affine_norm(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                 eps: float = 1e-5) -> torch.Tensor:  # fmt: skip
    """Instance norm with a per-picture affine, as one scale-and-shift pass.

    ``F.instance_norm`` reshapes to a batch norm and copies channels-last maps back and forth
    (a quarter of the network's time at 1024² in a profile); folding the statistics into a
    per-channel scale and shift costs one reduction and one fused multiply-add.
    """
    mean, inv = _stats(x, eps)
    scale = gamma[:, :, None, None] * inv
    return torch.addcmul(beta[:, :, None, None] - mean * scale, x, scale)


#: The smallest side TransformNet runs on: at its 1/8 scale a reflected 3×3 convolution needs
#: 2 pixels (a picture of 8 px or a 3-px strip fails there, in torch and in ONNX Runtime alike).
MIN_SIDE = 16


def pad_to_multiple(x: torch.Tensor, m: int, minimum: int = 0) -> torch.Tensor:
    """Reflect-pad the bottom and right of ``x`` so H and W are multiples of ``m`` (the
    network's total stride) and at least ``minimum``; crop the result back with
    ``[..., :h, :w]``."""
    h, w = x.shape[-2:]
    ph, pw = max((-h) % m, minimum - h), max((-w) % m, minimum - w)
    if not (ph or pw):
        return x
    # reflection needs a picture larger than the pad (a 1×5000 strip is not); repeat the edge
    tiny = ph >= x.shape[-2] or pw >= x.shape[-1]
    return F.pad(x, (0, pw, 0, ph), mode="replicate" if tiny else "reflect")


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
          reflect: bool = False, dilation: int = 1) -> nn.Conv2d:  # fmt: skip
    # reflection padding avoids a dark frame at the picture's edge; it costs a copy of the
    # map, so only the full-resolution layers (first and last) use it
    return nn.Conv2d(cin, cout, k, stride, dilation * (k // 2), dilation=dilation, groups=groups,
                     padding_mode="reflect" if reflect else "zeros")  # fmt: skip


class _Stage(nn.Module):
    """conv → CIN → ReLU, optionally after a nearest-neighbour ×2 upsample."""

    def __init__(self, cin: int, cout: int, styles: int, stride: int = 1, up: bool = False,
                 reflect: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.up = up
        self.conv = _conv(cin, cout, 3, stride, reflect=reflect)
        self.norm = CondInstanceNorm(cout, styles)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x), w), inplace=True)


class _SepResidual(nn.Module):
    """x + CIN(pw(dw(ReLU(CIN(pw(dw(x))))))): a depthwise-separable residual block; its
    depthwise convolutions dilated by ``dilation`` (a wider view at the same cost)."""

    def __init__(self, c: int, styles: int, reflect: bool = False, dilation: int = 1) -> None:
        super().__init__()
        dw = {"groups": c, "reflect": reflect, "dilation": dilation}
        self.dw1, self.pw1 = _conv(c, c, 3, **dw), nn.Conv2d(c, c, 1)
        self.dw2, self.pw2 = _conv(c, c, 3, **dw), nn.Conv2d(c, c, 1)
        self.n1, self.n2 = CondInstanceNorm(c, styles), CondInstanceNorm(c, styles)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.n1(self.pw1(self.dw1(x)), w), inplace=True)
        return x + self.n2(self.pw2(self.dw2(y)), w)


PADS = ("zeros", "reflect")  #: TransformNet's padding of its inner convolutions


def check_dilations(dilations: Sequence[int] | None, blocks: int) -> list[int]:
    """One dilation of 1-8 per residual block (``None`` or empty: all 1, as in bundles written
    before dilations existed)."""
    if not dilations:
        return [1] * blocks
    dil = list(dilations)
    if len(dil) != blocks or not all(isinstance(d, int) and 1 <= d <= 8 for d in dil):
        raise OptionError(f"dilations: one whole number in 1..8 per residual block ({blocks}), "
                          f"got {dil}")  # fmt: skip
    return dil


class TransformNet(nn.Module):
    """Johnson-style transformer with CIN: ``forward(x01, style)`` → stylized [0, 1] picture.

    ``style`` is an int, a (N,) blend vector, or a (B, N) matrix; ``width`` scales all channels.
    ``pad``: ``zeros`` pads the inner convolutions with zeros (the first and last reflect);
    ``reflect`` reflects in every convolution, so the network cannot tell where its training
    crops ended (with zeros, it learnt to paint bands of strokes along a picture's borders).
    ``dilations``: one per residual block (default all 1), widening what each output pixel
    sees at 1/8 scale without adding computation.
    """

    def __init__(self, styles: int = 1, width: int = 16, blocks: int = 5,
                 pad: str = "zeros", dilations: Sequence[int] | None = None) -> None:  # fmt: skip
        super().__init__()
        if styles < 1 or width < 4 or blocks < 1:
            raise OptionError("need styles ≥ 1, width ≥ 4 and blocks ≥ 1")
        if pad not in PADS:
            raise OptionError(f"pad must be {' or '.join(PADS)}, got {pad!r}")
        dil = check_dilations(dilations, blocks)
        c1, c2, c3 = width, 2 * width, 4 * width
        r = pad == "reflect"
        self.config = {"styles": styles, "width": width, "blocks": blocks, "pad": pad}
        if any(d != 1 for d in dil):  # bundles without the key stay as they were
            self.config["dilations"] = dil
        #: the smallest side run as is: a reflected convolution dilated d needs d + 1 pixels
        self.min_side = max(MIN_SIDE, 8 * (max(dil) + 1))
        self.down = nn.ModuleList([
            _Stage(3, c1, styles, stride=2, reflect=True),
            _Stage(c1, c2, styles, stride=2, reflect=r),
            _Stage(c2, c3, styles, stride=2, reflect=r),
        ])  # fmt: skip
        self.res = nn.ModuleList([_SepResidual(c3, styles, reflect=r, dilation=d) for d in dil])
        self.up = nn.ModuleList([_Stage(c3, c2, styles, up=True, reflect=r),
                                 _Stage(c2, c1, styles, up=True, reflect=r)])  # fmt: skip
        # the last ×2 goes straight into the output convolution: a normalised stage at full
        # resolution would be the most expensive layer of the network
        self.out = _conv(c1, 3, 3, reflect=True)

    @property
    def styles(self) -> int:
        return self.down[0].norm.gamma.shape[0]

    def style_weights(
        self, style: int | Sequence[float] | torch.Tensor, batch: int
    ) -> torch.Tensor:
        n = self.styles
        if isinstance(style, int):
            if not 0 <= style < n:
                raise OptionError(f"style index {style} out of range (this network has {n})")
            w = F.one_hot(torch.tensor([style]), n).float()
        else:
            w = torch.as_tensor(style, dtype=torch.float32).reshape(-1, n)
        return w.expand(batch, n) if w.shape[0] == 1 else w

    def forward(
        self, x: torch.Tensor, style: int | Sequence[float] | torch.Tensor = 0
    ) -> torch.Tensor:
        h, w_ = x.shape[-2:]
        weights = self.style_weights(style, x.shape[0]).to(x.device)
        y = pad_to_multiple(x, 8, self.min_side)  # three ×2 downsamplings
        for stage in self.down:
            y = stage(y, weights)
        for block in self.res:
            y = block(y, weights)
        for stage in self.up:
            y = stage(y, weights)
        y = torch.sigmoid(self.out(F.interpolate(y, scale_factor=2.0, mode="nearest")))
        return y[..., :h, :w_]

    def add_style(self, like: int | None = None) -> int:
        """Append a style (its CIN rows); returns its index. Train it with ``cin_parameters``."""
        for m in self.modules():
            if isinstance(m, CondInstanceNorm):
                m.add_style(like)
        self.config["styles"] = self.styles
        return self.styles - 1


def cin_rows(net: nn.Module) -> list[nn.Parameter]:
    """The CIN γ/β tensors: what training a new style on a frozen network updates."""
    return [p for m in net.modules() if isinstance(m, CondInstanceNorm) for p in (m.gamma, m.beta)]


class _Plain(nn.Module):
    """conv → instance norm → ReLU (optionally upsampling first)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, up: bool = False,
                 reflect: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.up, self.conv = up, _conv(cin, cout, 3, stride, reflect=reflect)
        self.weight = nn.Parameter(torch.ones(1, cout))
        self.bias = nn.Parameter(torch.zeros(1, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(_affine_norm(self.conv(x), self.weight, self.bias), inplace=True)


class StyleBankNet(nn.Module):
    """A shared encoder/decoder with one filter bank per style (Chen et al., CVPR 2017).

    ``forward(x, style=None)`` reconstructs (the auto-encoder branch); ``style=k`` runs bank k;
    a (N,) weight vector blends the banks' outputs. New styles train only their bank, so the
    others — and their pictures — stay bit-identical.
    """

    def __init__(self, styles: int = 1, width: int = 16) -> None:
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        self.config = {"styles": styles, "width": width}
        self.encoder = nn.Sequential(_Plain(3, c1, 2, reflect=True), _Plain(c1, c2, 2),
                                     _Plain(c2, c3, 2))  # fmt: skip
        self.banks = nn.ModuleList([self._bank(c3) for _ in range(styles)])
        self.decoder = nn.Sequential(
            _Plain(c3, c2, up=True), _Plain(c2, c1, up=True),
            nn.Upsample(scale_factor=2.0, mode="nearest"), _conv(c1, 3, 3, reflect=True),
        )  # fmt: skip

    @staticmethod
    def _bank(c: int) -> nn.Module:
        return nn.Sequential(_conv(c, c, 3, groups=c), nn.Conv2d(c, c, 1), nn.ReLU(),
                             _conv(c, c, 3, groups=c), nn.Conv2d(c, c, 1))  # fmt: skip

    @property
    def styles(self) -> int:
        return len(self.banks)

    def forward(self, x: torch.Tensor, style: int | Sequence[float] | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        z = self.encoder(pad_to_multiple(x, 8))
        if isinstance(style, int):
            if not 0 <= style < self.styles:
                raise OptionError(f"style index {style} out of range ({self.styles} banks)")
            z = self.banks[style](z)
        elif style is not None:
            weights = [float(v) for v in style]
            z = sum(wk * bank(z) for wk, bank in zip(weights, self.banks, strict=True) if wk)
        return torch.sigmoid(self.decoder(z))[..., :h, :w]

    def add_style(self) -> int:
        """Append a bank (frozen auto-encoder: train only ``banks[-1]``); returns its index."""
        c = self.encoder[-1].conv.out_channels
        self.banks.append(self._bank(c))
        self.config["styles"] = self.styles
        return self.styles - 1


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor,
          eps: float = 1e-5) -> torch.Tensor:  # fmt: skip
    """Huang & Belongie's AdaIN: content features renormalised to the style's channel stats."""
    mean, inv = _stats(content, eps)
    return (content - mean) * inv * style_std + style_mean


def channel_stats(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation over positions, shaped (B, C, 1, 1)."""
    return f.mean((2, 3), keepdim=True), (f.var((2, 3), keepdim=True, unbiased=False) + eps).sqrt()


def decoder(channels: int, stride: int, width: int = 16) -> nn.Sequential:
    """Features of ``channels`` at ``stride`` (a power of 2) back to a picture (before the
    sigmoid): a 3×3 convolution, then per ×2 nearest-neighbour upsampling two 3×3 convolutions
    whose widths halve towards full resolution (never below ``width``)."""
    ups = int(stride).bit_length() - 1  # stride 2^k → k upsampling stages
    # the last ×2 goes straight into the output convolution (two 3×3 convolutions at full
    # resolution were 60 % of the decoder's cost)
    c = width * 2 ** max(ups - 1, 0)
    layers: list[nn.Module] = [_conv(channels, c, 3), nn.ReLU()]
    for k in range(ups - 1):
        cout = max(width, c // 2) if k > 0 else c
        layers += [nn.Upsample(scale_factor=2.0, mode="nearest"), _conv(c, cout, 3), nn.ReLU(),
                   _conv(cout, cout, 3), nn.ReLU()]  # fmt: skip
        c = cout
    if ups:
        layers.append(nn.Upsample(scale_factor=2.0, mode="nearest"))
    layers.append(_conv(c, 3, 3, reflect=True))
    return nn.Sequential(*layers)


class AdaINNet(nn.Module):
    """A frozen zoo-backbone encoder (a prefix up to ``layer``) + a trained decoder.

    ``encode(x01)`` → features; ``decode(t)`` → picture. Stylizing is
    ``decode(α·adain(f_c, μ_s, σ_s) + (1 − α)·f_c)``; several styles blend their (μ, σ).
    """

    def __init__(self, encoder: nn.Module, channels: int, stride: int, width: int = 16) -> None:
        super().__init__()
        self.encoder = encoder
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.stride = stride
        self.decoder = decoder(channels, stride, width)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's last layer (an :class:`~decaf.zoo.encoder.Encoder` returns a dict of
        its stages; a plain module, its output)."""
        out = self.encoder(x)
        return out[self.encoder.layers[-1]] if isinstance(out, dict) else out

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(t))

    def forward(
        self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0
    ) -> torch.Tensor:
        h, w = content.shape[-2:]
        fc = self.encode(pad_to_multiple(content, self.stride))
        mean, std = channel_stats(self.encode(style))
        t = alpha * adain(fc, mean, std) + (1 - alpha) * fc
        return self.decode(t)[..., :h, :w]
