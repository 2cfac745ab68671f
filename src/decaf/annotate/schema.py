"""Cloud Vision's vocabulary: feature types, likelihoods, status codes and geometry helpers.

The names and numbers are Cloud Vision v1's (``google/cloud/vision/v1/image_annotator.proto``)
so that a response decaf writes parses into the official client's ``AnnotateImageResponse``.
Everything here is a constant or a pure function: the server calls it from many threads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from decaf.core import checks
from decaf.core.errors import OptionError

#: Feature.Type numbers (the official client sends these integers).
FEATURE_NUMBERS = {
    "TYPE_UNSPECIFIED": 0,
    "FACE_DETECTION": 1,
    "LANDMARK_DETECTION": 2,
    "LOGO_DETECTION": 3,
    "LABEL_DETECTION": 4,
    "TEXT_DETECTION": 5,
    "SAFE_SEARCH_DETECTION": 6,
    "IMAGE_PROPERTIES": 7,
    "CROP_HINTS": 9,
    "WEB_DETECTION": 10,
    "DOCUMENT_TEXT_DETECTION": 11,
    "PRODUCT_SEARCH": 12,
    "OBJECT_LOCALIZATION": 19,
}
FEATURE_NAMES = {number: name for name, number in FEATURE_NUMBERS.items()}

#: The command line's short names, in the order a table shows them.
ALIASES = {
    "labels": "LABEL_DETECTION",
    "objects": "OBJECT_LOCALIZATION",
    "faces": "FACE_DETECTION",
    "text": "TEXT_DETECTION",
    "document-text": "DOCUMENT_TEXT_DETECTION",
    "properties": "IMAGE_PROPERTIES",
    "crop-hints": "CROP_HINTS",
    "safe-search": "SAFE_SEARCH_DETECTION",
}
SUPPORTED = tuple(ALIASES.values())

#: Likelihood names by number (UNKNOWN = 0 … VERY_LIKELY = 5).
LIKELIHOODS = ("UNKNOWN", "VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY")

#: google.rpc.Code numbers used in per-image ``error`` objects.
INVALID_ARGUMENT = 3
UNIMPLEMENTED = 12
INTERNAL = 13

#: Cloud Vision's own limits: 75 megapixels per picture, 16 aspect ratios for crop hints.
MAX_PIXELS = 75_000_000
MAX_ASPECT_RATIOS = 16
DEFAULT_MAX_RESULTS = 10


def feature_name(value: str | int) -> str:
    """A feature type given as Cloud Vision's name, its number or a command-line alias."""
    if isinstance(value, bool):
        raise OptionError(f"feature type {value!r} is not a name or a number")
    if isinstance(value, int):
        if value not in FEATURE_NAMES:
            raise OptionError(f"feature type {value} is not a Cloud Vision feature number")
        return FEATURE_NAMES[value]
    text = str(value).strip()
    if text.lower() in ALIASES:
        return ALIASES[text.lower()]
    if text.upper() in FEATURE_NUMBERS:
        return text.upper()
    known = ", ".join(ALIASES)
    raise OptionError(f"unknown feature {value!r}; choose from {known} (or Cloud Vision's names)")


@dataclass(frozen=True)
class Feature:
    """One requested feature: Cloud Vision's ``Feature`` (type, maxResults, model)."""

    type: str
    max_results: int = DEFAULT_MAX_RESULTS
    model: str = "builtin/stable"

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", feature_name(self.type))
        checks.at_least("maxResults", self.max_results, 1)
        object.__setattr__(self, "max_results", int(self.max_results))


@dataclass(frozen=True)
class ImageContext:
    """The parts of Cloud Vision's ``ImageContext`` decaf uses.

    ``aspect_ratios`` are width / height for CROP_HINTS (at most 16; none means one square crop);
    ``language_hints`` are accepted and reported, since the OCR models read Latin and Chinese
    script without being told; ``text_confidence`` adds word confidences to TEXT_DETECTION.
    """

    aspect_ratios: tuple[float, ...] = ()
    language_hints: tuple[str, ...] = ()
    text_confidence: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        ratios = tuple(float(r) for r in self.aspect_ratios)
        if len(ratios) > MAX_ASPECT_RATIOS:
            raise OptionError(
                f"at most {MAX_ASPECT_RATIOS} crop-hint aspect ratios, got {len(ratios)}"
            )
        for r in ratios:
            checks.in_range("aspect ratio", r, 0.01, 100.0)
        object.__setattr__(self, "aspect_ratios", ratios)
        object.__setattr__(self, "language_hints", tuple(str(h) for h in self.language_hints))


def features_from(
    requested: Iterable[str | int | Feature] | None, max_results: int = DEFAULT_MAX_RESULTS
) -> list[Feature]:
    """Normalise a feature list: names, numbers, aliases or :class:`Feature`; duplicates merge
    (the largest ``max_results`` wins) and DOCUMENT_TEXT replaces TEXT, as in Cloud Vision."""
    items = list(SUPPORTED) if requested is None else list(requested)
    merged: dict[str, Feature] = {}
    for item in items:
        f = item if isinstance(item, Feature) else Feature(feature_name(item), max_results)
        old = merged.get(f.type)
        if old is None or f.max_results > old.max_results:
            merged[f.type] = f
    if not merged:
        raise OptionError("no features asked for")
    if "DOCUMENT_TEXT_DETECTION" in merged:
        merged.pop("TEXT_DETECTION", None)
    return list(merged.values())


def likelihood(p: float, cuts: Sequence[float]) -> str:
    """The Likelihood name of probability ``p`` given 4 rising cut points."""
    if not math.isfinite(p):
        return LIKELIHOODS[0]
    return LIKELIHOODS[1 + sum(p >= c for c in cuts)]


def status(code: int, message: str) -> dict[str, Any]:
    """A ``google.rpc.Status`` object."""
    return {"code": int(code), "message": message}


def vertices(box: Sequence[float], width: int, height: int) -> list[dict[str, int]]:
    """Four integer pixel vertices (clockwise from top-left) of an x1, y1, x2, y2 box, clipped to
    the picture; explicit zeros, unlike proto3's JSON, which drops them."""
    x1, y1, x2, y2 = box
    xa, xb = _clip(x1, width), _clip(x2, width)
    ya, yb = _clip(y1, height), _clip(y2, height)
    return [{"x": xa, "y": ya}, {"x": xb, "y": ya}, {"x": xb, "y": yb}, {"x": xa, "y": yb}]


def polygon(points: Iterable[Sequence[float]], width: int, height: int) -> list[dict[str, int]]:
    """Integer pixel vertices of a (rotated) quadrilateral, clipped to the picture."""
    return [{"x": _clip(x, width), "y": _clip(y, height)} for x, y in points]


def normalized(box: Sequence[float], width: int, height: int) -> list[dict[str, float]]:
    """``normalizedVertices`` of an x1, y1, x2, y2 pixel box, each coordinate in [0, 1]."""
    x1, y1, x2, y2 = box
    xa, xb = min(max(x1 / width, 0.0), 1.0), min(max(x2 / width, 0.0), 1.0)
    ya, yb = min(max(y1 / height, 0.0), 1.0), min(max(y2 / height, 0.0), 1.0)
    pts = [(xa, ya), (xb, ya), (xb, yb), (xa, yb)]
    return [{"x": round(x, 6), "y": round(y, 6)} for x, y in pts]


def _clip(v: float, size: int) -> int:
    return int(min(max(round(float(v)), 0), size))


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
