"""Neural style transfer.

The task's face: :mod:`~decaf.stylize.optimize` (Gatys: :class:`StyleOptions`,
:func:`stylize_gatys`), :mod:`~decaf.stylize.model` (the feed-forward networks' bundles),
:mod:`~decaf.stylize.train` (:class:`~decaf.stylize.train.FastOptions`, ``train_style``),
:mod:`~decaf.stylize.predict` (the thread-safe ``FastStylizer``, tiling, video, ONNX) and
:mod:`~decaf.stylize.files` (``stylize_to``: files to files, as the CLI runs it).

``decaf.stylize(content, style, method="gatys", **options)`` returns a ``PIL.Image``; the
package module itself is callable so that spelling works while ``decaf.stylize.color`` and the
other submodules stay importable. :func:`run` returns the full :class:`StyleResult` (time,
iterations, losses, whether it was interrupted).
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from decaf.core.errors import ImageError, OptionError
from decaf.core.images import ImageSource, load_image
from decaf.core.photos import BUILTIN_PHOTOS, builtin_photo
from decaf.stylize.optimize import Progress, StyleOptions, StyleResult, stylize_gatys
from decaf.stylize.procedural import BUILTIN_STYLES, builtin_style

#: Photos shipped by scikit-image, usable by name wherever a content picture is expected.
DEFAULT_CONTENT = "chelsea"
DEFAULT_STYLE = "swirl"
METHODS = ("gatys", "fast", "adain", "wct")
#: the methods that run a trained network (adain and wct: any style picture)
FEEDFORWARD = ("fast", "adain", "wct")


def resolve_content(src: ImageSource | None) -> Image.Image:
    """A content picture from a source, a built-in photo name, or the default photo."""
    if src is None:
        src = DEFAULT_CONTENT
    if isinstance(src, str) and not os.path.exists(src) and src in BUILTIN_PHOTOS:
        return builtin_photo(src)
    return load_image(src)


def resolve_style(src: ImageSource, size: int = 512, seed: int = 0) -> Image.Image:
    """A style picture from a source or a built-in style name (``swirl``, ``mosaic``, ...)."""
    if isinstance(src, str) and not os.path.exists(src):
        if src in BUILTIN_STYLES:
            return builtin_style(src, size=size, seed=seed)
        raise ImageError(
            f"{src}: no such file, and not a built-in style ({', '.join(sorted(BUILTIN_STYLES))})"
        )
    return load_image(src)


def stylize_to(*args: Any, **kwargs: Any) -> Any:
    """Files to files, as ``decaf stylize`` runs it: see :func:`decaf.stylize.files.stylize_to`."""
    from decaf.stylize.files import stylize_to as run_files

    return run_files(*args, **kwargs)


def _as_list(style: ImageSource | Sequence[ImageSource] | None) -> list[ImageSource]:
    if style is None:
        return [DEFAULT_STYLE]
    if isinstance(style, (list, tuple)):
        return list(style)
    return [style]  # type: ignore[list-item]


def prepare(
    content: ImageSource | None = None,
    style: ImageSource | Sequence[ImageSource] | None = None,
    method: str = "gatys",
    **options: Any,
) -> tuple[Image.Image, list[Image.Image], StyleOptions]:
    """Validate options and load every picture: all the ways a run can fail on bad input,
    checked before any network is loaded or any time is spent."""
    if method not in METHODS:
        raise OptionError(f"unknown method {method!r}; available: {', '.join(METHODS)}")
    unknown = set(options) - set(StyleOptions.__dataclass_fields__)
    if unknown:
        raise OptionError(f"unknown option(s) {sorted(unknown)} for method {method!r}")
    opts = StyleOptions(**options)
    opts.validate()
    sources = _as_list(style)
    opts.validate_blend(len(sources))
    styles = [resolve_style(s, size=max(512, opts.size), seed=opts.seed) for s in sources]
    return resolve_content(content), styles, opts


def run(
    content: ImageSource | None = None,
    style: ImageSource | Sequence[ImageSource] | None = None,
    method: str = "gatys",
    *,
    callback: Callable[[Progress], None] | None = None,
    **options: Any,
) -> StyleResult:
    """Stylize and return the full result record. Options are :class:`StyleOptions` fields."""
    if method in FEEDFORWARD:
        raise OptionError(f"run() is for optimisation; use decaf.stylize(..., method={method!r})")
    content_img, styles, opts = prepare(content, style, method, **options)
    return stylize_gatys(content_img, styles, opts, callback=callback)


def stylize(
    content: ImageSource | None = None,
    style: ImageSource | Sequence[ImageSource] | None = None,
    method: str = "gatys",
    **options: Any,
) -> Image.Image:
    """Stylize ``content`` (default: a scikit-image photo) with ``style`` (default: ``swirl``).

    ``method="gatys"`` optimises the picture (options: :class:`StyleOptions` fields);
    ``method="fast"`` runs a trained network — the built-in one over the built-in styles, or
    ``model=BUNDLE`` — with ``style`` a style name, index or list of names blended by
    ``style_weights``; ``method="adain"`` and ``method="wct"`` (universal style transfer) take
    any style picture(s) (``alpha``, ``style_weights``, ``masks``; wct also ``work_size`` and
    ``upscale``, a working-resolution mode). All take ``size``,
    ``preserve_color`` and ``tile``.
    """
    if method in FEEDFORWARD:
        return feedforward(content, style, method, **options)
    return run(content, style, method, **options).image


def feedforward(
    content: ImageSource | None,
    style: ImageSource | Sequence[ImageSource] | None,
    method: str,
    model: str | os.PathLike | None = None,
    style_weights: Sequence[float] | None = None,
    **options: Any,
) -> Image.Image:
    """The ``fast`` / ``adain`` / ``wct`` branch of :func:`stylize` (one loaded network per
    model)."""
    from decaf.stylize.files import cached_stylizer
    from decaf.stylize.model import ARBITRARY

    sources = _as_list(style)
    if model is None and method == "fast" and all(isinstance(s, (str, int)) for s in sources):
        from decaf.stylize.predict import builtin_fast_for

        model = builtin_fast_for(sources)  # the procedural or the paintings network
    stylizer = cached_stylizer(str(model) if model is not None else None, method)
    picture = resolve_content(content)
    if method in ARBITRARY:
        images = [resolve_style(s) for s in sources]
        return stylizer(picture, style_images=images, style_weights=style_weights, **options)
    if not all(isinstance(s, (str, int)) for s in sources):
        raise OptionError(
            "method fast takes style names or indices; style pictures need adain or wct"
        )
    if len(sources) == 1 and style_weights is None:
        return stylizer(picture, sources[0], **options)
    weights = list(style_weights) if style_weights is not None else [1.0] * len(sources)
    if len(weights) != len(sources):
        raise OptionError(f"{len(weights)} weights for {len(sources)} styles")
    return stylizer(picture, dict(zip(sources, weights, strict=True)), **options)


_LAZY = {"FastStylizer": "decaf.stylize.predict", "FastOptions": "decaf.stylize.train",
         "train_style": "decaf.stylize.train", "load_style_net": "decaf.stylize.model"}  # fmt: skip


def __getattr__(name: str) -> Any:
    """The feed-forward side of the face, loaded on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'decaf.stylize' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Image.Image:
        return stylize(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "BUILTIN_PHOTOS",
    "BUILTIN_STYLES",
    "Progress",
    "StyleOptions",
    "StyleResult",
    "prepare",
    "resolve_content",
    "resolve_style",
    "run",
    "stylize_gatys",
    "stylize",
    "feedforward",
    "stylize_to",
    "FastStylizer",
    "FastOptions",
    "train_style",
    "load_style_net",
]
