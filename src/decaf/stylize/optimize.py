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

from decaf.core.errors import OptionError
from decaf.stylize import color
from decaf.stylize.features import FeatureExtractor
from decaf.stylize.losses import content_loss, make_style_loss, total_variation

#: Defaults measured with ``benchmarks/stylize_gatys.py`` for the offline EfficientNet-Lite0
#: weights (see docs/stylize.md for the sweep that chose them).
DEFAULT_BACKBONE = "efficientnet_lite0"
DEFAULT_STYLE_LAYERS: dict[str, tuple[str, ...]] = {
    "efficientnet": ("conv_stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3", "blocks.4"),
}
DEFAULT_CONTENT_LAYERS: dict[str, tuple[str, ...]] = {"efficientnet": ("blocks.3",)}


@dataclass
class StyleOptions:
    """Every knob of the optimisation; ``None`` means the backbone's measured default."""

    size: int = 512  #: long side of the result in pixels
    scales: Sequence[int] | None = None  #: pyramid of long sides, ending at ``size``
    steps: int | Sequence[int] = (150, 100, 60)  #: iterations per pyramid level
    loss: str = "gram"
    content_weight: float = 1.0
    style_weight: float = 30.0
    tv_weight: float = 0.0
    style_layers: Sequence[str] | None = None
    content_layers: Sequence[str] | None = None
    layer_weights: dict[str, float] = field(default_factory=dict)  #: per style layer, default 1
    smoothing: dict[str, float] = field(default_factory=dict)  #: SWAG temperature per layer
    optimizer: str = "lbfgs"
    lr: float | None = None  #: Adam step (pixels in [0, 1]); L-BFGS uses 1
    init: str = "content"  #: content | noise | style
    seed: int = 0
    style_scale: float = 1.0
    style_weights: Sequence[float] | None = None  #: blend of several style images
    preserve_color: str | None = None  #: None | luminance | histogram
    backbone: str = DEFAULT_BACKBONE
    weights: str | None = None  #: a weights file for the backbone
    device: str = "cpu"

    def pyramid(self) -> list[int]:
        """The list of long sides to optimise at, validated."""
        if self.scales:
            sizes = [int(s) for s in self.scales]
        else:
            sizes = [s for s in (256, 384) if s < self.size] + [self.size]
        if any(s < 32 for s in sizes):
            raise OptionError(f"every scale must be at least 32 pixels, got {sizes}")
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

    def validate(self) -> None:
        """Fail before any model loads."""
        if not 32 <= self.size <= 4096:
            raise OptionError(f"size must be in 32..4096 pixels, got {self.size}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise OptionError(f"optimizer must be lbfgs or adam, got {self.optimizer!r}")
        if self.init not in ("content", "noise", "style"):
            raise OptionError(f"init must be content, noise or style, got {self.init!r}")
        if self.preserve_color not in (None, "luminance", "histogram"):
            raise OptionError(
                f"preserve_color must be luminance or histogram, got {self.preserve_color!r}"
            )
        if not 0.05 <= self.style_scale <= 8:
            raise OptionError(f"style_scale must be in 0.05..8, got {self.style_scale}")
        for label, value in (
            ("content_weight", self.content_weight),
            ("style_weight", self.style_weight),
            ("tv_weight", self.tv_weight),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise OptionError(f"{label} must be a finite number ≥ 0, got {value}")
        steps = [self.steps] if isinstance(self.steps, int) else list(self.steps)
        if not steps or any(int(s) < 0 for s in steps):
            raise OptionError(f"steps must be ≥ 0, got {self.steps}")
        make_style_loss(self.loss)
        self.pyramid()


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


def _to_tensor(img: np.ndarray, device: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None].contiguous().to(device)


def _to_array(x: torch.Tensor) -> np.ndarray:
    return x[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float64)


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
        self.image = _to_array(x)

    def offer(self, loss: float, x: torch.Tensor) -> None:
        if math.isfinite(loss) and loss < self.loss:
            self.loss, self.image = loss, _to_array(x)


def _as_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0


def build_extractor(opts: StyleOptions) -> tuple[FeatureExtractor, list[str], list[str]]:
    """The loss network for ``opts``: backbone from the zoo, layers defaulted by family."""
    from decaf.zoo.registry import create_model, get_spec

    spec = get_spec(opts.backbone)
    style_layers = list(opts.style_layers or DEFAULT_STYLE_LAYERS.get(spec.family, ()))
    content_layers = list(opts.content_layers or DEFAULT_CONTENT_LAYERS.get(spec.family, ()))
    if not style_layers or not content_layers:
        raise OptionError(
            f"no default layers for backbone {opts.backbone!r}; pass style_layers and content_layers"
        )
    model = create_model(opts.backbone, weights=opts.weights)
    ext = FeatureExtractor(model, style_layers + content_layers, spec.mean, spec.std, opts.smoothing)
    return ext.to(opts.device), style_layers, content_layers


def stylize_gatys(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: StyleOptions | None = None,
    *,
    callback: Callable[[Progress], None] | None = None,
    extractor: tuple[FeatureExtractor, list[str], list[str]] | None = None,
) -> StyleResult:
    """Optimise a picture with ``content``'s layout in the style of ``styles`` (blended).

    Ctrl-C (KeyboardInterrupt) during the optimisation stops it and returns the best picture so
    far with ``interrupted=True``: finished work is never lost.
    """
    opts = replace(options) if options is not None else StyleOptions()
    opts.validate()
    if not styles:
        raise OptionError("at least one style image is needed")
    blend = list(opts.style_weights) if opts.style_weights else [1.0] * len(styles)
    if len(blend) != len(styles) or any(w < 0 for w in blend) or sum(blend) <= 0:
        raise OptionError(
            f"style_weights needs {len(styles)} non-negative numbers with a positive sum, got {blend}"
        )
    blend = [w / sum(blend) for w in blend]

    torch.manual_seed(opts.seed)
    start = time.perf_counter()
    ext, style_layers, content_layers = extractor or build_extractor(opts)
    style_loss = make_style_loss(opts.loss, seed=opts.seed)

    content_full = _resize(_as_array(content), opts.size)
    style_arrays = [_as_array(s) for s in styles]
    if opts.preserve_color == "histogram":
        style_arrays = [color.match_color(s, content_full) for s in style_arrays]
    work_content = content_full
    if opts.preserve_color == "luminance":
        pairs = [color.luminance_only(content_full, s) for s in style_arrays]
        work_content = pairs[0][0]
        style_arrays = [p[1] for p in pairs]

    sizes = opts.pyramid()
    steps = opts.steps_per_level(len(sizes))
    total = sum(steps)
    done = 0
    x: torch.Tensor | None = None
    best: _Best | None = None
    losses: dict[str, float] = {}
    interrupted = False
    rng = np.random.default_rng(opts.seed)

    try:
        for level, (long_side, n_steps) in enumerate(zip(sizes, steps, strict=True)):
            c_img = _resize(work_content, long_side)
            h, w = c_img.shape[:2]
            c_t = _to_tensor(c_img, opts.device)
            with torch.no_grad():
                c_feats = ext(c_t)
                c_targets = {n: c_feats[n].detach() for n in content_layers}
                s_targets = []
                for s_arr in style_arrays:
                    s_img = _resize(s_arr, max(16, round(long_side * opts.style_scale)))
                    s_feats = ext(_to_tensor(s_img, opts.device))
                    s_targets.append({n: style_loss.target(s_feats[n]) for n in style_layers})

            if x is None:
                if opts.init == "content":
                    start_img = c_img
                elif opts.init == "noise":
                    start_img = rng.uniform(0.0, 1.0, c_img.shape)
                else:
                    start_img = _resize_to(style_arrays[0], w, h)
                x = _to_tensor(start_img, opts.device)
            else:
                x = F.interpolate(x.detach(), size=(h, w), mode="bicubic", align_corners=False)
            x = x.clamp(0, 1).contiguous().requires_grad_(True)
            best = _Best(x)

            def objective(x_: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
                feats = ext(x_)
                lc = sum(content_loss(feats[n], c_targets[n]) for n in content_layers)
                lc = lc / len(content_layers)
                ls = x_.new_zeros(())
                for bw, targets in zip(blend, s_targets, strict=True):
                    for n in style_layers:
                        lw = opts.layer_weights.get(n, 1.0)
                        ls = ls + bw * lw * style_loss.score(feats[n], targets[n])
                ls = ls / len(style_layers)
                tv = total_variation(x_)
                total_loss = opts.content_weight * lc + opts.style_weight * ls + opts.tv_weight * tv
                parts = {
                    "total": total_loss.item(),
                    "content": float(lc.item()),
                    "style": ls.item(),
                    "tv": tv.item(),
                }
                return total_loss, parts

            if opts.optimizer == "lbfgs":
                opt: torch.optim.Optimizer = torch.optim.LBFGS(
                    [x], lr=1.0, max_iter=1, history_size=50, tolerance_grad=0.0,
                    tolerance_change=0.0,
                )
            else:
                opt = torch.optim.Adam([x], lr=opts.lr or 0.02)

            for step in range(n_steps):
                record: dict[str, float] = {}

                def closure() -> torch.Tensor:
                    opt.zero_grad(set_to_none=True)
                    loss, parts = objective(x)
                    loss.backward()
                    record.update(parts)
                    best.offer(parts["total"], x)  # the point just evaluated
                    return loss

                opt.step(closure)
                with torch.no_grad():
                    x.clamp_(0, 1)
                losses = record
                done += 1
                if callback is not None:
                    callback(Progress(level, len(sizes), (w, h), step + 1, n_steps, done, total, losses))
            # carry the best picture of this level to the next
            x = _to_tensor(best.image, opts.device)
    except KeyboardInterrupt:
        interrupted = True

    if best is None:  # interrupted before the first level began
        result_arr = work_content
    else:
        result_arr = best.image
    height, width = content_full.shape[:2]
    if result_arr.shape[:2] != (height, width):  # stopped at a coarse level
        result_arr = _resize_to(result_arr, width, height)
    if opts.preserve_color == "luminance":
        result_arr = color.recombine_luminance(result_arr, content_full)
    image = Image.fromarray(np.clip(np.round(result_arr * 255), 0, 255).astype(np.uint8), "RGB")
    return StyleResult(
        image=image,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        iterations=done,
        losses=losses,
        options=opts,
    )
