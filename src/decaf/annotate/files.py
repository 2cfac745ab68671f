"""The files-to-results job behind ``decaf annotate``: pictures or a folder in, one Cloud Vision
``{"responses": [...]}`` document out, a drawing on request, and short summaries for tables."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from decaf.annotate import schema
from decaf.annotate.annotator import Annotator
from decaf.annotate.draw import draw_response
from decaf.annotate.schema import Feature, ImageContext
from decaf.core.errors import ImageError, OptionError
from decaf.core.images import (
    IMAGE_EXTENSIONS,
    atomic_write,
    image_format_for,
    load_image,
    picture_paths,
    writable_file,
)


def to_json(document: dict[str, Any]) -> str:
    """The one serialisation of a response document (the CLI's --json and the server's body)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def annotate_files(
    target: str | os.PathLike,
    features: Iterable[str | int | Feature] | None = None,
    *,
    classifier: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    max_results: int = 10,
    aspect_ratios: Sequence[float] = (),
    draw: str | os.PathLike | None = None,
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """Names and the response document for a picture or every picture in a folder.

    Options, the drawing's destination and the bundles are checked before any picture is
    read. One picture that cannot be read is an :class:`ImageError` (the command exits 2); in a
    folder, such a picture gets its own ``error`` and the others go on."""
    paths = picture_paths(target)
    wanted = schema.features_from(features, max_results)
    context = ImageContext(tuple(aspect_ratios))
    if draw is not None:
        if len(paths) != 1:
            raise OptionError(f"--draw takes one picture; {target} holds {len(paths)}")
        writable_file(draw, IMAGE_EXTENSIONS, "drawing")
    annotator = Annotator(classifier, detector, device)
    names = [str(p) for p in paths]
    document = annotator.many(names, wanted, context, progress=progress)
    only = document["responses"][0] if Path(target).is_file() else {}
    if set(only) == {"error"}:  # the one picture asked for could not be read: exit 2
        raise ImageError(only["error"]["message"].removeprefix("Bad image data: "))
    if draw is not None and "error" not in document["responses"][0]:
        canvas = draw_response(load_image(names[0]), document["responses"][0])
        atomic_write(draw, lambda tmp: canvas.save(tmp, format=image_format_for(draw)))
    return names, document


def _box(poly: dict[str, Any]) -> str:
    """``(x1,y1)-(x2,y2)``: pixels, or fractions of the picture for normalized vertices."""
    pts = poly.get("vertices") or poly.get("normalizedVertices") or []
    if not pts:
        return "()"
    xs, ys = [p.get("x", 0) for p in pts], [p.get("y", 0) for p in pts]
    f = ".0f" if "vertices" in poly else ".2f"
    return f"({min(xs):{f}},{min(ys):{f}})-({max(xs):{f}},{max(ys):{f}})"


def _label(a: dict[str, Any]) -> str:
    return f"{a['description']} {a['score']:.2f}"


def _object(o: dict[str, Any]) -> str:
    return f"{o['name']} {o['score']:.2f} {_box(o['boundingPoly'])}"


def _face(f: dict[str, Any]) -> str:
    return f"{_box(f['fdBoundingPoly'])} {f['detectionConfidence']:.2f} joy {f['joyLikelihood']}"


def _color(c: dict[str, Any]) -> str:
    rgb = c["color"]
    hexa = "".join(f"{int(rgb.get(k, 0)):02x}" for k in ("red", "green", "blue"))
    return f"#{hexa} {c['pixelFraction']:.0%}"


def _crop(c: dict[str, Any]) -> str:
    return f"{_box(c['boundingPoly'])} keeps {c['importanceFraction']:.0%}"


def _text(annotations: list[dict[str, Any]]) -> str:
    text = annotations[0]["description"].strip().replace("\n", " / ")
    return text if len(text) <= 120 else text[:117] + "..."


#: response key → (row name, the list inside it, how one item reads)
_ROWS: list[tuple[str, str, Any, Any]] = [
    ("labelAnnotations", "labels", lambda v: v, _label),
    ("localizedObjectAnnotations", "objects", lambda v: v, _object),
    ("faceAnnotations", "faces", lambda v: v, _face),
    (
        "imagePropertiesAnnotation",
        "properties",
        lambda v: v["dominantColors"]["colors"][:5],
        _color,
    ),
    ("cropHintsAnnotation", "crop-hints", lambda v: v["cropHints"], _crop),
]


def summary(response: dict[str, Any]) -> list[tuple[str, str]]:
    """(feature, one line) rows for people, in the command line's feature order."""
    rows = [(name, ", ".join(line(item) for item in items(response[key])))
            for key, name, items, line in _ROWS if key in response]  # fmt: skip
    if "textAnnotations" in response:
        after = sum(name in ("labels", "objects", "faces") for name, _ in rows)
        rows.insert(after, ("text", _text(response["textAnnotations"])))
    if "safeSearchAnnotation" in response:
        s = response["safeSearchAnnotation"]
        rows.append(("safe-search", f"adult {s['adult']}, racy {s['racy']}"))
    if "error" in response:
        rows.append(("error", response["error"]["message"]))
    return rows
