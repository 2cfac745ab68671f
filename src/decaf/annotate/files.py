"""The files-to-results job behind ``decaf annotate``: pictures or a folder in, one Cloud Vision
``{"responses": [...]}`` document out, a drawing on request, and short summaries for tables."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from decaf.annotate import schema
from decaf.annotate.annotator import Annotator
from decaf.annotate.draw import draw_response
from decaf.annotate.schema import Feature, ImageContext
from decaf.core.errors import OptionError
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
    read; a picture that cannot be read gets its own ``error`` and the others go on."""
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


def summary(response: dict[str, Any]) -> list[tuple[str, str]]:
    """(feature, one line) rows for people, in the command line's feature order."""
    rows: list[tuple[str, str]] = []
    r = response
    if "labelAnnotations" in r:
        rows.append(
            (
                "labels",
                ", ".join(f"{a['description']} {a['score']:.2f}" for a in r["labelAnnotations"]),
            )
        )
    if "localizedObjectAnnotations" in r:
        rows.append(
            (
                "objects",
                ", ".join(
                    f"{o['name']} {o['score']:.2f} {_box(o['boundingPoly'])}"
                    for o in r["localizedObjectAnnotations"]
                ),
            )
        )
    if "faceAnnotations" in r:
        rows.append(
            (
                "faces",
                ", ".join(
                    f"{_box(f['fdBoundingPoly'])} {f['detectionConfidence']:.2f} "
                    f"joy {f['joyLikelihood']}"
                    for f in r["faceAnnotations"]
                ),
            )
        )
    if "textAnnotations" in r:
        text = r["textAnnotations"][0]["description"].strip().replace("\n", " / ")
        rows.append(("text", text if len(text) <= 120 else text[:117] + "..."))
    if "imagePropertiesAnnotation" in r:
        cols = r["imagePropertiesAnnotation"]["dominantColors"]["colors"][:5]
        rows.append(
            (
                "properties",
                ", ".join(
                    "#{:02x}{:02x}{:02x} {:.0%}".format(
                        int(c["color"]["red"]),
                        int(c["color"]["green"]),
                        int(c["color"]["blue"]),
                        c["pixelFraction"],
                    )
                    for c in cols
                ),
            )
        )
    if "cropHintsAnnotation" in r:
        rows.append(
            (
                "crop-hints",
                ", ".join(
                    f"{_box(c['boundingPoly'])} keeps {c['importanceFraction']:.0%}"
                    for c in r["cropHintsAnnotation"]["cropHints"]
                ),
            )
        )
    if "safeSearchAnnotation" in r:
        s = r["safeSearchAnnotation"]
        rows.append(("safe-search", f"adult {s['adult']}, racy {s['racy']}"))
    if "error" in r:
        rows.append(("error", r["error"]["message"]))
    return rows
