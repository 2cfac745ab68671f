"""Stylize files: the one job ``decaf stylize`` runs (and the server will), from paths to paths.

It decides what the content is (a picture, a folder, a video), refuses options that do not
apply to the chosen method instead of ignoring them, checks every output before the work
starts, runs the method, writes atomically and returns a :class:`StylizeReport` for the caller
to print. Progress goes to the callbacks; nothing here prints.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decaf.core.errors import OptionError
from decaf.core.images import (
    find_pictures,
    image_format_for,
    load_image,
    save_image,
    writable_file,
)
from decaf.stylize.model import ARBITRARY
from decaf.stylize.optimize import Progress, StyleOptions

METHODS = ("gatys", "fast", "adain", "wct")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
#: options every method takes
SHARED_OPTIONS = frozenset({"size", "preserve_color", "style_weights"})
#: options of the optimisation only
GATYS_OPTIONS = frozenset(StyleOptions.__dataclass_fields__) - SHARED_OPTIONS
#: options of the trained networks only (alpha and masks: the arbitrary-style methods only)
FEEDFORWARD_OPTIONS = frozenset({"model", "engine", "tile", "smooth", "alpha", "masks",
                                 "work_size", "upscale"})  # fmt: skip
#: options of the optimisation only; "device" is shared, but StyleOptions holds it
GATYS_ONLY = GATYS_OPTIONS - {"device"}
#: options of the arbitrary-style methods only (work_size, upscale: WCT only, refused by AdaIN
#: itself)
ARBITRARY_OPTIONS = frozenset({"alpha", "masks", "work_size", "upscale"})


@dataclass(frozen=True)
class StylizeReport:
    """What a run did: ``payload`` is the ``--json`` record, ``text`` the line for people."""

    payload: dict[str, Any]
    text: str
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return self.payload


def check_options(method: str, options: dict[str, Any]) -> None:
    """Refuse an unknown method, and options the method would ignore (named as CLI flags)."""
    if method not in METHODS:
        raise OptionError(f"unknown method {method!r}; use gatys, fast, adain or wct")
    unknown = set(options) - SHARED_OPTIONS - GATYS_OPTIONS - FEEDFORWARD_OPTIONS
    if unknown:
        raise OptionError(f"unknown option(s) {sorted(unknown)}")
    if method == "gatys":
        foreign = set(options) & FEEDFORWARD_OPTIONS
        hint = "they go with --method fast, adain or wct"
    else:
        foreign = set(options) & GATYS_ONLY
        hint = "they go with --method gatys (the optimisation)"
        if method == "fast":
            foreign |= set(options) & ARBITRARY_OPTIONS
            hint = "they go with the method noted in `decaf stylize --help`"
    if foreign:
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in sorted(foreign))
        raise OptionError(f"{flags} do(es) not apply to --method {method}; {hint}")


def stylize_to(
    content: str | None,
    styles: Sequence[str],
    output: str | os.PathLike,
    method: str = "gatys",
    *,
    on_step: Callable[[Progress], None] | None = None,
    on_item: Callable[[int, int], None] | None = None,
    **options: Any,
) -> StylizeReport:
    """Stylize ``content`` (a file, a built-in photo name, or for fast/adain/wct a folder or a
    video) with ``styles`` and write the result to ``output``. ``on_step`` reports Gatys's
    iterations, ``on_item`` pictures or frames done."""
    check_options(method, options)
    output = Path(output)
    kind = _content_kind(content)
    if method == "gatys":
        if kind != "picture":
            raise OptionError(
                f"{content}: a {kind} is stylized by a trained network; use "
                "--method fast, adain or wct"
            )
        return _gatys(content, list(styles), output, on_step, options)
    run = _feedforward_runner(method, list(styles), options)
    if kind == "video":
        return _video(Path(content), output, run, float(options.get("smooth", 0.5)), on_item)
    if kind == "folder":
        key = _run_key(method, list(styles), options, run)
        return _folder(Path(content), output, run, on_item, key)
    return _picture(content, output, run)


def _content_kind(content: str | None) -> str:
    if content is None:
        return "picture"
    path = Path(content)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    return "folder" if path.is_dir() else "picture"


def _picture_output(output: Path) -> None:
    image_format_for(output)  # refuse a bad output type before any work
    writable_file(output, what="picture")


def _gatys(
    content: str | None,
    styles: list[str],
    output: Path,
    on_step: Callable[[Progress], None] | None,
    options: dict[str, Any],
) -> StylizeReport:
    import decaf.stylize as st

    _picture_output(output)
    content_img, style_imgs, opts = st.prepare(content, styles or [st.DEFAULT_STYLE], **options)
    result = st.stylize_gatys(content_img, style_imgs, opts, callback=on_step)
    save_image(result.image, output)
    payload = {
        "output": str(output),
        "width": result.image.width,
        "height": result.image.height,
        "seconds": round(result.seconds, 2),
        "iterations": result.iterations,
        "interrupted": result.interrupted,
        "losses": result.losses,
        "backbone": result.options.backbone,
        "device": result.options.device,
        "optimizer": result.options.solver(),
    }
    state = "interrupted; best result so far saved to" if result.interrupted else "wrote"
    text = (
        f"{state} {output} ({result.image.width}×{result.image.height}, "
        f"{result.seconds:.1f} s, {result.iterations} iterations)"
    )
    return StylizeReport(payload, text, result.interrupted)


@functools.lru_cache(maxsize=8)
def cached_stylizer(model: str | None, method: str, engine: str = "auto",
                    device: str = "cpu") -> Any:  # fmt: skip
    """One loaded network per (model, method, engine, device) and process: loading costs more
    than a picture. The cache is thread-safe and its networks are safe to share between
    threads."""
    from decaf.stylize.predict import FastStylizer

    return FastStylizer(model, method, engine, device)


@dataclass(frozen=True)
class _Runner:
    """A loaded feed-forward network and the arguments every picture is stylized with."""

    stylizer: Any
    kwargs: dict[str, Any]

    def __call__(self, picture: Any) -> Any:
        return self.stylizer(picture, **self.kwargs)


def _feedforward_runner(method: str, styles: list[str], options: dict[str, Any]) -> _Runner:
    from decaf.stylize import resolve_style

    model = options.get("model")
    if model is None and method == "fast" and styles:
        from decaf.stylize.predict import builtin_fast_for

        model = builtin_fast_for([int(s) if s.isdigit() else s for s in styles])
    stylizer = cached_stylizer(
        str(model) if model is not None else None, method, options.get("engine", "auto"),
        options.get("device", "cpu"),
    )  # fmt: skip
    kwargs: dict[str, Any] = {
        k: options[k]
        for k in ("alpha", "size", "preserve_color", "tile", "work_size", "upscale")
        if k in options
    }
    weights = options.get("style_weights")
    if stylizer.method in ARBITRARY:
        kwargs["style_images"] = [resolve_style(s) for s in styles or ["swirl"]]
        kwargs["style_weights"] = weights
        if options.get("masks") is not None:
            kwargs["masks"] = [
                np.asarray(load_image(m).convert("L"), np.float32) / 255 for m in options["masks"]
            ]
        return _Runner(stylizer, kwargs)
    keys = [int(s) if s.isdigit() else s for s in styles]  # names or indices
    if weights is not None:
        if len(weights) != len(keys):
            raise OptionError(f"{len(weights)} weights for {len(keys)} styles")
        kwargs["style"] = dict(zip(keys, weights, strict=True))
    elif len(keys) > 1:
        raise OptionError("several styles need --style-weights to blend them")
    elif keys:
        kwargs["style"] = keys[0]
    return _Runner(stylizer, kwargs)


def _picture(content: str | None, output: Path, run: _Runner) -> StylizeReport:
    from decaf.stylize import resolve_content

    _picture_output(output)
    start = time.perf_counter()
    result = run(resolve_content(content))
    seconds = time.perf_counter() - start
    save_image(result, output)
    method = run.stylizer.method
    payload = {
        "output": str(output),
        "width": result.width,
        "height": result.height,
        "seconds": round(seconds, 3),
        "method": method,
        "model": str(run.stylizer.path),
    }
    text = f"wrote {output} ({result.width}×{result.height}, {seconds:.2f} s, {method})"
    return StylizeReport(payload, text)


def folder_destinations(src: Path, output: Path) -> list[tuple[Path, Path]]:
    """(picture, result) pairs: each result at its picture's place under ``output``, as PNG.
    Two pictures that would share a result (``x.jpg`` and ``x.png``) are refused up front."""
    if output.suffix:
        raise OptionError(f"{output}: a folder of pictures goes to a folder (no extension)")
    pairs = [(p, output / p.relative_to(src).with_suffix(".png")) for p in find_pictures(src)]
    if not pairs:
        raise OptionError(f"{src}: no pictures in this folder")
    seen: dict[Path, Path] = {}
    for picture, dest in pairs:
        if dest in seen:
            raise OptionError(
                f"{seen[dest]} and {picture} would both be written to {dest}; rename one of them"
            )
        seen[dest] = picture
    return pairs


#: in a folder output: the settings its pictures were made with (see :func:`_run_key`)
MANIFEST = ".decaf-stylize.json"


def _stamp(value: Any) -> Any:
    """A file as (path, size, modification time), so an edited style or model is a new run."""
    if isinstance(value, (list, tuple)):
        return [_stamp(v) for v in value]
    if isinstance(value, (str, os.PathLike)) and Path(value).is_file():
        st = Path(value).stat()
        return [str(Path(value).resolve()), st.st_size, st.st_mtime_ns]
    return value if isinstance(value, (int, float, bool, type(None))) else str(value)


def _run_key(method: str, styles: list[str], options: dict[str, Any], run: _Runner) -> dict:
    """What decides a folder run's pictures. A rerun with the same key into the same folder
    skips the pictures already there: each was written whole (atomically), so a run killed
    midway loses only the picture it was on."""
    return {
        "method": method,
        "model": _stamp(str(run.stylizer.path)),
        "styles": _stamp(styles),
        "options": {k: _stamp(v) for k, v in sorted(options.items())},
    }


def _done_before(output: Path, key: dict) -> bool:
    import json

    try:
        return json.loads((output / MANIFEST).read_text()) == json.loads(json.dumps(key))
    except (OSError, ValueError):
        return False


def _folder(
    src: Path,
    output: Path,
    run: _Runner,
    on_item: Callable[[int, int], None] | None,
    key: dict,
) -> StylizeReport:
    import json

    from decaf.core.images import atomic_write

    pairs = folder_destinations(src, output)
    output.mkdir(parents=True, exist_ok=True)
    writable_file(output / "probe.png")
    resume = _done_before(output, key)
    atomic_write(output / MANIFEST, lambda tmp: tmp.write_text(json.dumps(key, indent=1)))
    start, written, kept = time.perf_counter(), [], []
    try:
        for k, (picture, dest) in enumerate(pairs):
            if resume and dest.is_file() and dest.stat().st_mtime >= picture.stat().st_mtime:
                kept.append(str(dest))
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                save_image(run(load_image(picture)), dest)
                written.append(str(dest))
            if on_item is not None:
                on_item(k + 1, len(pairs))
    except KeyboardInterrupt:
        return StylizeReport(
            {"output": str(output), "written": written, "kept": kept, "interrupted": True},
            f"interrupted; {len(written)} pictures written to {output}; run the same command "
            "again to finish (done pictures are kept)",
            True,
        )
    seconds = time.perf_counter() - start
    again = f", {len(kept)} kept from an earlier run with the same settings" if kept else ""
    return StylizeReport(
        {"output": str(output), "written": written, "kept": kept, "seconds": round(seconds, 2)},
        f"wrote {len(written)} pictures to {output} ({seconds:.1f} s){again}",
    )


def _video(
    src: Path, output: Path, run: _Runner, smooth: float, on_item: Callable[[int, int], None] | None
) -> StylizeReport:
    from decaf.stylize.predict import stylize_video

    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise OptionError(f"{output}: a video goes to a video file ({', '.join(VIDEO_SUFFIXES)})")
    writable_file(output, what="video")
    start = time.perf_counter()
    info = stylize_video(src, output, run, smooth, on_item)
    payload = {"output": str(output), **info, "seconds": round(time.perf_counter() - start, 2)}
    state = "interrupted; kept" if info["stopped"] else "wrote"
    text = f"{state} {output}: {info['frames']} frames in {payload['seconds']} s"
    return StylizeReport(payload, text, bool(info["stopped"]))
