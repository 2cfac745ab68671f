"""Style transfer by optimisation (Gatys, Ecker & Bethge 2016), coarse to fine.

The picture itself is the parameter: starting from the content (or noise, or the style), L-BFGS
or Adam moves its pixels to lower ``content_weight·content + style_weight·style + tv_weight·TV``
measured by a frozen backbone. Runs go through a pyramid of sizes (``scales``); each level starts
from the previous level's result upsampled, so large strokes are laid down at low resolution,
where they are cheap and where the network's receptive fields see them whole, and the finer
levels add texture. The style image is resized with each level (``style_scale`` × the content's
long side), keeping brush strokes the same size relative to the picture.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from decaf.core.devices import check_device_name, resolve_device
from decaf.core.errors import OptionError
from decaf.core.tensors import batch_to_float_array, float_array_to_batch
from decaf.stylize import color
from decaf.stylize.losses import (
    StyleLoss,
    content_loss,
    make_style_loss,
    octave,
    total_variation,
)
from decaf.zoo.encoder import Encoder

#: Defaults measured with ``benchmarks/stylize_gatys.py`` for the offline EfficientNet-Lite0
#: weights (see docs/stylize.md for the sweep that chose them).
DEFAULT_BACKBONE = "efficientnet_lite0"
#: Long sides of the default coarse-to-fine pyramid (those below the requested size are used).
PYRAMID = (192, 256, 384, 512, 768, 1024, 1536, 2048, 3072)
DEFAULT_STYLE_LAYERS: dict[str, tuple[str, ...]] = {
    "efficientnet": ("conv_stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4"),
    # untuned starting points for networks whose weights the user supplies
    "resnet": ("act1", "layer1", "layer2", "layer3", "layer4"),
    "vgg": ("features.1", "features.6", "features.11", "features.20", "features.29"),
}
#: Style layer weights when neither style_layers nor layer_weights are given (others: 1). The
#: shallow layers carry the painting's colour and brush texture; at weight 1 decaf's pictures
#: were 1.4-4x further from the paintings there than neural-style's, judged by networks of two
#: other families (benchmarks/judges.py), while its deep layers were already closer. Doubled
#: from 16/16/8/2 together with TV 300 and content weight 4 (2026-12-02): with the stronger TV,
#: the fine texture at 512 px came within the reference's (docs/stylize.md).
DEFAULT_LAYER_WEIGHTS: dict[str, dict[str, float]] = {
    "efficientnet": {"conv_stem": 32.0, "blocks.0": 32.0, "blocks.1": 16.0, "blocks.2": 4.0},
}
DEFAULT_CONTENT_LAYERS: dict[str, tuple[str, ...]] = {
    "efficientnet": ("blocks.3",),
    "resnet": ("layer3",),
    "vgg": ("features.22",),
}


@dataclass(frozen=True)
class LossDefaults:
    style_weight: float
    optimizer: str
    adam_lr: float


#: Per-loss defaults, measured with benchmarks/stylize_gatys.py (Lite2 judge, ours/reference
#: style ratio at 256/512 px, content ratio): at style weight 30 the MMD and BN losses barely
#: stylize (mmd-gauss 3.6/3.6/0.54); at these weights they land near Gram's balance. On
#: EfficientNet features L-BFGS climbs or stalls on the MMD losses (with or without a line
#: search) while Adam descends steadily, hence their optimiser.
LOSS_DEFAULTS: dict[str, LossDefaults] = {
    "gram": LossDefaults(30.0, "lbfgs", adam_lr=0.01),
    "bn-stats": LossDefaults(1000.0, "lbfgs", adam_lr=0.01),  # 0.96 / 0.63 / 1.08
    "mmd-gauss": LossDefaults(3000.0, "adam", adam_lr=0.003),  # 1.02 / 0.75 / 1.23
    "mmd-linear": LossDefaults(3000.0, "adam", adam_lr=0.003),  # 1.34 / 0.73 / 1.20
}


@dataclass
class StyleOptions:
    """Every knob of the optimisation; ``None`` means the backbone's measured default."""

    size: int = 512  #: long side of the result in pixels
    scales: Sequence[int] | None = None  #: pyramid of long sides, ending at ``size``
    #: iterations per level, finest last (the finest at 30, not 60: the same scores on the three
    #: neural-style reference pairs in 30 % less time, benchmarks/stylize_gatys.py, 2026-12-02)
    steps: int | Sequence[int] = (100, 80, 60, 30)
    loss: str = "gram"
    content_weight: float = 4.0
    style_weight: float | None = None  #: None: the loss's measured default (LOSS_DEFAULTS)
    #: total variation: 300, not 100, keeps the optimiser's high-frequency noise out of the fine
    #: texture (the judges' shallow 512 px scores; docs/stylize.md)
    tv_weight: float = 300.0
    style_layers: Sequence[str] | None = None
    content_layers: Sequence[str] | None = None
    #: per style layer; empty: DEFAULT_LAYER_WEIGHTS for the default layers, else 1
    layer_weights: dict[str, float] = field(default_factory=dict)
    smoothing: dict[str, float] = field(default_factory=dict)  #: SWAG temperature per layer
    #: lbfgs | adam; None = the loss's measured default (LOSS_DEFAULTS)
    optimizer: str | None = None
    #: strong-Wolfe line search for L-BFGS: off by default (half the time per iteration and
    #: no better pictures in benchmarks/stylize_gatys.py)
    line_search: bool = False
    lr: float | None = None  #: Adam step (pixels in [0, 1]); None: the loss's default
    init: str = "content"  #: content | noise | style
    seed: int = 0
    style_scale: float = 1.0
    #: the style is matched at this many octaves: the picture, then halved each time (a Gram
    #: on the halved picture sees strokes twice as large through the same layers)
    style_octaves: int = 2
    border: float = 1 / 32  #: mirrored margin around the picture, as a fraction of its long side
    style_weights: Sequence[float] | None = None  #: blend of several style images
    preserve_color: str | None = None  #: None | luminance | histogram
    backbone: str = DEFAULT_BACKBONE
    weights: str | None = None  #: a weights file for the backbone
    device: str = "cpu"  #: auto (the local GPU when there is one) | cpu | cuda | cuda:N

    def layer_weight(self, layer: str) -> float:
        """A style layer's weight: the given ``layer_weights``, else (for the family's default
        layers) the measured defaults, else 1."""
        if self.layer_weights or self.style_layers:
            return self.layer_weights.get(layer, 1.0)
        from decaf.zoo.registry import get_spec

        family = get_spec(self.backbone).family
        return DEFAULT_LAYER_WEIGHTS.get(family, {}).get(layer, 1.0)

    def pyramid(self) -> list[int]:
        """The list of long sides to optimise at, validated."""
        if self.scales:
            sizes = [int(s) for s in self.scales]
        else:
            sizes = [s for s in PYRAMID if s < self.size] + [self.size]
        if any(s < 32 for s in sizes):
            raise OptionError(f"every scale must be at least 32 pixels, got {sizes}")
        if sizes != sorted(set(sizes)) or sizes[-1] > self.size:
            raise OptionError(
                f"scales must rise strictly and end at or below size={self.size}, got {sizes}"
            )
        if sizes[-1] != self.size:
            sizes.append(self.size)
        return sizes

    def steps_per_level(self, levels: int) -> list[int]:
        if isinstance(self.steps, int):
            return [self.steps] * levels
        steps = [int(s) for s in self.steps]
        if len(steps) < levels:  # a short list is aligned to the finest levels
            steps = [steps[0]] * (levels - len(steps)) + steps
        return steps[-levels:]

    def style_weight_value(self) -> float:
        """The style weight used: the given one or the loss's measured default."""
        if self.style_weight is not None:
            return self.style_weight
        return LOSS_DEFAULTS[self.loss].style_weight

    def solver(self) -> str:
        """The optimiser actually used (resolving the per-loss default)."""
        return self.optimizer or LOSS_DEFAULTS[self.loss].optimizer

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail before any model loads (run on construction, and again after edits)."""
        check_device_name(self.device)
        make_style_loss(self.loss)  # first: the per-loss defaults below are keyed by it
        if not 32 <= self.size <= 4096:
            raise OptionError(f"size must be in 32..4096 pixels, got {self.size}")
        if self.optimizer not in (None, "lbfgs", "adam"):
            raise OptionError(f"optimizer must be lbfgs or adam, got {self.optimizer!r}")
        if self.init not in ("content", "noise", "style"):
            raise OptionError(f"init must be content, noise or style, got {self.init!r}")
        if self.preserve_color not in (None, "luminance", "histogram"):
            raise OptionError(
                f"preserve_color must be luminance or histogram, got {self.preserve_color!r}"
            )
        if not 0 <= self.border <= 0.5:
            raise OptionError(f"border must be in 0..0.5, got {self.border}")
        if not 0.05 <= self.style_scale <= 8:
            raise OptionError(f"style_scale must be in 0.05..8, got {self.style_scale}")
        if not (isinstance(self.style_octaves, int) and 1 <= self.style_octaves <= 4):
            raise OptionError(f"style_octaves must be 1..4, got {self.style_octaves!r}")
        for label, value in (
            ("content_weight", self.content_weight),
            ("style_weight", self.style_weight_value()),
            ("tv_weight", self.tv_weight),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise OptionError(f"{label} must be a finite number ≥ 0, got {value}")
        steps = [self.steps] if isinstance(self.steps, int) else list(self.steps)
        if not steps or any(int(s) < 0 for s in steps):
            raise OptionError(f"steps must be ≥ 0, got {self.steps}")
        if sum(int(s) for s in steps) == 0:
            raise OptionError("steps are all 0: nothing would be optimised (the result would be "
                              "the content picture); give at least one iteration")  # fmt: skip
        self.pyramid()
        for label, table in (("layer_weights", self.layer_weights), ("smoothing", self.smoothing)):
            bad = {k: v for k, v in table.items() if not (math.isfinite(v) and v >= 0)}
            if bad:
                raise OptionError(f"{label} must be finite numbers ≥ 0, got {bad}")
        from decaf.zoo.registry import require_weights

        style_layers, content_layers = self.layers()
        stray = set(self.layer_weights) - set(style_layers)
        if stray:
            raise OptionError(
                f"layer_weights name unknown layer(s) {sorted(stray)}; "
                f"the style layers are {style_layers}"
            )
        stray = set(self.smoothing) - set(style_layers) - set(content_layers)
        if stray:
            raise OptionError(
                f"smoothing names unknown layer(s) {sorted(stray)}; "
                f"the loss layers are {style_layers + content_layers}"
            )
        require_weights(self.backbone, self.weights)

    def layers(self) -> tuple[list[str], list[str]]:
        """(style layers, content layers): the given ones or the backbone family's defaults."""
        from decaf.zoo.registry import get_spec

        family = get_spec(self.backbone).family
        style = list(self.style_layers or DEFAULT_STYLE_LAYERS.get(family, ()))
        content = list(self.content_layers or DEFAULT_CONTENT_LAYERS.get(family, ()))
        if not style or not content:
            raise OptionError(
                f"no default layers for backbone {self.backbone!r}; "
                "pass style_layers and content_layers"
            )
        return style, content

    def validate_blend(self, n_styles: int) -> list[float]:
        """Normalised blend weights for ``n_styles`` style pictures."""
        if n_styles < 1:
            raise OptionError("at least one style image is needed")
        blend = list(self.style_weights) if self.style_weights else [1.0] * n_styles
        finite = all(isinstance(w, int | float) and math.isfinite(w) and w >= 0 for w in blend)
        if len(blend) != n_styles or not finite or sum(blend) <= 0:
            raise OptionError(
                f"style_weights needs {n_styles} non-negative numbers with a positive sum, "
                f"got {blend}"
            )
        return [w / sum(blend) for w in blend]


@dataclass
class Progress:
    """What a progress callback receives after every iteration."""

    level: int
    levels: int
    size: tuple[int, int]  #: (width, height) of the current level
    step: int  #: iterations done at this level
    level_steps: int
    done: int  #: iterations done overall
    total: int
    losses: dict[str, float]


@dataclass
class StyleResult:
    image: Image.Image
    interrupted: bool
    seconds: float
    iterations: int
    losses: dict[str, float]
    options: StyleOptions


def _resize_to(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos resize of a float [0, 1] picture (through 8-bit, like any decoded image)."""
    pil = Image.fromarray(np.clip(np.round(img * 255), 0, 255).astype(np.uint8))
    return np.asarray(pil.resize((width, height), Image.LANCZOS), dtype=np.float64) / 255.0


def _resize(img: np.ndarray, long_side: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    return _resize_to(img, max(1, round(w * s)), max(1, round(h * s)))


class _Best:
    """The lowest-loss picture evaluated so far at the current level."""

    def __init__(self, x: torch.Tensor) -> None:
        self.loss = math.inf
        self.image = batch_to_float_array(x)

    def offer(self, loss: float, x: torch.Tensor) -> None:
        if math.isfinite(loss) and loss < self.loss:
            self.loss, self.image = loss, batch_to_float_array(x)


#: style pictures are kept at up to this long side (each pyramid level resizes them again)
STYLE_LONG_SIDE_MAX = 4096


def _resized(img: Image.Image, long_side: int) -> Image.Image:
    """``img`` with its long side at ``long_side``: Lanczos on the 8-bit picture, which is what
    :func:`_resize` does to an array of it, without the float copies of a full-size photo."""
    w, h = img.size
    s = long_side / max(w, h)
    return img.convert("RGB").resize((max(1, round(w * s)), max(1, round(h * s))),
                                     Image.LANCZOS)  # fmt: skip


def _as_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def _make_optimizer(opts: StyleOptions, x: torch.Tensor) -> torch.optim.Optimizer:
    """L-BFGS with a strong-Wolfe line search (one iteration per ``step`` call, so progress can be
    reported and Ctrl-C honoured between iterations), or Adam."""
    if opts.solver() == "lbfgs":
        return torch.optim.LBFGS(
            [x],
            lr=1.0,
            max_iter=1,
            history_size=20,  # 50 cost 0.18 GB more at 512 px for the same pictures
            tolerance_grad=0.0,
            tolerance_change=0.0,
            line_search_fn="strong_wolfe" if opts.line_search else None,
        )
    return torch.optim.Adam([x], lr=opts.lr or LOSS_DEFAULTS[opts.loss].adam_lr)


def build_extractor(opts: StyleOptions) -> tuple[Encoder, list[str], list[str]]:
    """The loss network for ``opts``: backbone from the zoo, layers defaulted by family."""
    style_layers, content_layers = opts.layers()
    ext = Encoder(opts.backbone, style_layers + content_layers, weights=opts.weights,
                  smoothing=opts.smoothing)  # fmt: skip
    return ext.to(opts.device), style_layers, content_layers


@dataclass
class _Counter:
    """Counts iterations across pyramid levels and reports them."""

    total: int
    levels: int
    callback: Callable[[Progress], None] | None
    done: int = 0
    losses: dict[str, float] = field(default_factory=dict)

    def tick(
        self,
        level: int,
        size: tuple[int, int],
        step: int,
        level_steps: int,
        losses: dict[str, float],
    ) -> None:
        self.done += 1
        self.losses = losses
        if self.callback is not None:
            self.callback(
                Progress(level, self.levels, size, step, level_steps, self.done, self.total, losses)
            )


def _reflect_pad(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mirror ``fraction`` of the long side around the picture before the network sees it.

    Zero ("same") padding makes border pixels special to every convolution, and the optimiser
    answers with a rim of noisy colour; mirrored, the border has neighbours like any pixel.
    """
    pad = min(round(fraction * max(x.shape[-2:])), min(x.shape[-2:]) - 1)
    return F.pad(x, (pad, pad, pad, pad), mode="reflect") if pad > 0 else x


@dataclass
class _Objective:
    """The weighted loss at one pyramid level, its targets computed once."""

    ext: Encoder
    opts: StyleOptions
    style_loss: StyleLoss
    style_layers: list[str]
    content_layers: list[str]
    blend: list[float]
    content_targets: dict[str, torch.Tensor]
    style_targets: list[list[dict[str, object]]]  #: per style, per octave, per layer

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        ext: Encoder,
        opts: StyleOptions,
        style_loss: StyleLoss,
        style_layers: list[str],
        content_layers: list[str],
        blend: list[float],
        *,
        content: torch.Tensor,
        styles: list[torch.Tensor],
        start: torch.Tensor,
    ) -> _Objective:
        c_feats = ext(_reflect_pad(content, opts.border))
        targets = []
        for s in styles:
            per_octave = []
            for k in range(opts.style_octaves):
                s_feats = ext(_reflect_pad(octave(s, k), opts.border))
                start_feats = ext(_reflect_pad(octave(start, k), opts.border))
                per_octave.append(
                    {
                        n: style_loss.fit(style_loss.target(s_feats[n]), start_feats[n])
                        for n in style_layers
                    }
                )
            targets.append(per_octave)
        c_targets = {n: c_feats[n] for n in content_layers}
        return cls(ext, opts, style_loss, style_layers, content_layers, blend, c_targets, targets)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        feats = self.ext(_reflect_pad(x, self.opts.border))
        lc = sum(content_loss(feats[n], self.content_targets[n]) for n in self.content_layers)
        lc = lc / len(self.content_layers)
        ls = x.new_zeros(())
        for k in range(self.opts.style_octaves):
            if k > 0:
                feats = self.ext(_reflect_pad(octave(x, k), self.opts.border))
            for weight, targets in zip(self.blend, self.style_targets, strict=True):
                for n in self.style_layers:
                    lw = self.opts.layer_weight(n)
                    ls = ls + weight * lw * self.style_loss.score(feats[n], targets[k][n])
        ls = ls / len(self.style_layers)
        tv = total_variation(x)
        o = self.opts
        total = o.content_weight * lc + o.style_weight_value() * ls + o.tv_weight * tv
        parts = {
            "total": total.item(),
            "content": float(lc.detach()),
            "style": ls.item(),
            "tv": tv.item(),
        }
        return total, parts


def _optimize_level(
    objective: _Objective,
    x: torch.Tensor,
    n_steps: int,
    opts: StyleOptions,
    best: _Best,
    counter: _Counter,
    level: int,
) -> None:
    """Run ``n_steps`` optimiser iterations from ``x``; ``best`` keeps the lowest-loss picture."""
    lbfgs = opts.solver() == "lbfgs"
    # L-BFGS sees the picture in units of 1/scale: torch's L-BFGS makes its first step at most
    # unit L1 length in parameter space, which in pixels would be ~1e-5 per value and lost in
    # float32 noise. Scaled so, the first step averages ~1 % of the pixel range; later steps
    # are scaled by L-BFGS's own curvature estimate.
    scale = 0.01 * x.numel() if lbfgs else 1.0
    z = (x.detach() / scale).requires_grad_(True)
    opt = _make_optimizer(opts, z)
    size = (x.shape[-1], x.shape[-2])
    for step in range(n_steps):
        record: dict[str, float] = {}

        def closure(opt=opt, record=record) -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            x_now = z * scale
            loss, parts = objective(x_now)
            loss.backward()
            if not record:  # the first evaluation is at the current iterate
                record.update(parts)
            best.offer(parts["total"], x_now)  # the point just evaluated
            return loss

        before = z.detach().clone()
        opt.step(closure)
        if lbfgs:
            # L-BFGS runs unclamped (clamping would corrupt its curvature pairs); when its
            # history stops giving a descent direction it does not move: restart it.
            if torch.equal(z.detach(), before):
                opt = _make_optimizer(opts, z)
        else:
            with torch.no_grad():
                z.clamp_(0, 1)
        counter.tick(level, size, step + 1, n_steps, record)


def stylize_gatys(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: StyleOptions | None = None,
    *,
    callback: Callable[[Progress], None] | None = None,
    extractor: tuple[Encoder, list[str], list[str]] | None = None,
) -> StyleResult:
    """Optimise a picture with ``content``'s layout in the style of ``styles`` (blended).

    Ctrl-C (KeyboardInterrupt) during the optimisation stops it and returns the best picture so
    far with ``interrupted=True``: finished work is never lost. Every random choice comes from
    generators seeded by ``options.seed`` for this call alone (no global seeding: concurrent
    calls in other threads are unaffected).
    """
    opts = replace(options) if options is not None else StyleOptions()
    opts.device = str(resolve_device(opts.device))
    blend = opts.validate_blend(len(styles))
    start = time.perf_counter()
    ext, style_layers, content_layers = extractor or build_extractor(opts)
    style_loss = make_style_loss(opts.loss, seed=opts.seed)
    content_full, work_content, style_arrays = _colour_inputs(content, styles, opts)
    sizes = opts.pyramid()
    steps = opts.steps_per_level(len(sizes))
    counter = _Counter(total=sum(steps), levels=len(sizes), callback=callback)
    x: torch.Tensor | None = None
    best: _Best | None = None
    interrupted = False
    rng = np.random.default_rng(opts.seed)
    try:
        for level, (long_side, n_steps) in enumerate(zip(sizes, steps, strict=True)):
            c_img = _resize(work_content, long_side)
            x = _level_start(x, c_img, style_arrays[0], opts, rng)
            best = _Best(x)
            scaled = [_resize(s, max(16, round(long_side * opts.style_scale)))
                      for s in style_arrays]  # fmt: skip
            objective = _Objective.build(
                ext, opts, style_loss, style_layers, content_layers, blend,
                content=float_array_to_batch(c_img, opts.device),
                styles=[float_array_to_batch(s, opts.device) for s in scaled], start=x,
            )  # fmt: skip
            _optimize_level(objective, x, n_steps, opts, best, counter, level)
            x = float_array_to_batch(best.image, opts.device)
    except KeyboardInterrupt:
        interrupted = True
    image = _final_picture(work_content if best is None else best.image, content_full, opts)
    return StyleResult(image=image, interrupted=interrupted,
                       seconds=time.perf_counter() - start, iterations=counter.done,
                       losses=counter.losses, options=opts)  # fmt: skip


def _colour_inputs(content: Image.Image, styles: Sequence[Image.Image], opts: StyleOptions
                   ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:  # fmt: skip
    """(content at full size, the content the optimiser sees, the style arrays) after colour
    preservation: histogram matching moves the styles' colours to the content's; luminance
    transfer optimises luminance only."""
    # resized as 8-bit pictures first (what _resize does anyway): a 75-MP photo as float64
    # arrays would take several GB before it shrinks to opts.size
    content_full = _as_array(_resized(content, opts.size))
    style_arrays = [_as_array(_resized(s, STYLE_LONG_SIDE_MAX) if max(s.size) >
                              STYLE_LONG_SIDE_MAX else s) for s in styles]  # fmt: skip
    if opts.preserve_color == "histogram":
        style_arrays = [color.match_color(s, content_full) for s in style_arrays]
    work_content = content_full
    if opts.preserve_color == "luminance":
        pairs = [color.luminance_only(content_full, s) for s in style_arrays]
        work_content = pairs[0][0]
        style_arrays = [p[1] for p in pairs]
    return content_full, work_content, style_arrays


def _level_start(x: torch.Tensor | None, c_img: np.ndarray, style: np.ndarray,
                 opts: StyleOptions, rng: np.random.Generator) -> torch.Tensor:  # fmt: skip
    """The picture a pyramid level starts from: the init at the first level, else the previous
    level's best picture upsampled."""
    h, w = c_img.shape[:2]
    if x is None:
        if opts.init == "content":
            start_img = c_img
        elif opts.init == "noise":
            start_img = rng.uniform(0.0, 1.0, c_img.shape)
        else:
            start_img = _resize_to(style, w, h)
        x = float_array_to_batch(start_img, opts.device)
    else:
        x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    return x.clamp(0, 1).contiguous()


def _final_picture(result: np.ndarray, content_full: np.ndarray,
                   opts: StyleOptions) -> Image.Image:  # fmt: skip
    """The result at the content's full size (a stop at a coarse level is upsampled), with the
    content's colours put back for luminance transfer."""
    height, width = content_full.shape[:2]
    if result.shape[:2] != (height, width):
        result = _resize_to(result, width, height)
    if opts.preserve_color == "luminance":
        result = color.recombine_luminance(result, content_full)
    return Image.fromarray(np.clip(np.round(result * 255), 0, 255).astype(np.uint8), "RGB")
