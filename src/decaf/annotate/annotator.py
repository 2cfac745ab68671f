"""The :class:`Annotator`: Cloud Vision's ``AnnotateImageResponse`` for one picture, offline.

Each feature's engine loads on first use, once, under its own lock, so an Annotator asked only
for faces never loads the OCR models, and many threads can share one Annotator (the server
does). A feature that fails fills the response's ``error`` (``google.rpc.Status``) and leaves
the other features' results in place, as Cloud Vision's partial success does; a picture that
cannot be read gives a response holding only ``error``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
from PIL import Image

from decaf.annotate import colors, objects, schema
from decaf.annotate.labels import labels
from decaf.annotate.safesearch import annotation as safesearch_annotation
from decaf.annotate.schema import Feature, ImageContext
from decaf.classify import Classifier
from decaf.core.errors import DecafError, ImageError
from decaf.core.images import ImageSource, load_image
from decaf.detect import Detector

T = TypeVar("T")
#: where a batched pass leaves each picture's share of its time
_BATCHED_SECONDS = {
    "LABEL_DETECTION": "label_probs_seconds",
    "SAFE_SEARCH_DETECTION": "nsfw_seconds",
}


class Lazy(Generic[T]):
    """A value built on first use, once, even when several threads ask at the same moment."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._build()
        return self._value


def _faces() -> Any:
    from decaf.annotate.faces import FaceFinder

    return FaceFinder()


def _text() -> Any:
    from decaf.annotate.text import TextReader

    return TextReader()


def _safe() -> Any:
    from decaf.annotate.safesearch import SafeSearch

    return SafeSearch()


class Annotator:
    """Cloud Vision's image features from built-in models or the user's bundles.

    ``classifier`` (a bundle path or a :class:`Classifier`) answers LABEL_DETECTION instead of
    ImageNet; ``detector`` (a bundle path or a :class:`Detector`) answers OBJECT_LOCALIZATION
    instead of the ImageNet activation maps. Bundles are checked when given, not on first use.
    """

    def __init__(
        self,
        classifier: str | os.PathLike | Classifier | None = None,
        detector: str | os.PathLike | Detector | None = None,
        device: str = "cpu",
        max_pixels: int = schema.MAX_PIXELS,
    ) -> None:
        self.device = device
        self.max_pixels = max_pixels
        user_clf = _loaded(classifier, lambda p: Classifier.from_bundle(p, device))
        self.detector = _loaded(detector, lambda p: Detector(p, device=device))
        self.imagenet = Lazy(lambda: Classifier.load(device=device))
        self.classifier = Lazy(lambda: user_clf) if user_clf is not None else self.imagenet
        self.faces = Lazy(_faces)
        self.text = Lazy(_text)
        self.safe = Lazy(_safe)

    def warm(self, features: Iterable[str | int | Feature] | None = None) -> Annotator:
        """Load every engine the features need now (the server's readiness waits for this)."""
        for f in schema.features_from(features):
            for engine in self._engines(f.type):
                engine.get()
        return self

    def _engines(self, kind: str) -> list[Lazy[Any]]:
        return {
            "LABEL_DETECTION": [self.classifier],
            "FACE_DETECTION": [self.faces],
            "TEXT_DETECTION": [self.text],
            "DOCUMENT_TEXT_DETECTION": [self.text],
            "SAFE_SEARCH_DETECTION": [self.safe],
            "CROP_HINTS": [self.faces],
            "OBJECT_LOCALIZATION": [] if self.detector is not None else [self.imagenet],
        }.get(kind, [])

    def __call__(
        self,
        image: ImageSource,
        features: Iterable[str | int | Feature] | None = None,
        context: ImageContext | None = None,
        max_results: int = 10,
        name: str | None = None,
        on_feature: Callable[[str, float, bool], None] | None = None,
        max_pixels: int | None = None,
    ) -> dict[str, Any]:
        """The ``AnnotateImageResponse`` dict of one picture (camelCase keys, as on the wire).

        ``features`` default to all eight; bad options raise :class:`OptionError`, while a bad
        picture or a failing feature is reported inside the response. ``on_feature(type,
        seconds, ok)`` hears each feature's time (the server's metrics); ``max_pixels`` overrides
        the Annotator's pixel budget for this call."""
        wanted = schema.features_from(features, max_results)
        request = (image, wanted, context or ImageContext(), name)
        return self.batch([request], on_feature, max_pixels)[0]

    def batch(
        self,
        requests: Sequence[tuple[ImageSource, list[Feature], ImageContext, str | None]],
        on_feature: Callable[[str, float, bool], None] | None = None,
        max_pixels: int | None = None,
    ) -> list[dict[str, Any]]:
        """Responses for (picture, features, context, name) requests that arrive together.

        Why together: the classifier and the safe-search net run once over every picture that
        asks for them (one batch of eight took 0.63–0.86× the time of eight single passes for
        safe search and 0.85–1.05× for labels; ``benchmarks/annotate.py --only batching``)."""
        pictures: list[Image.Image | dict[str, Any]] = []
        for image, _, _, name in requests:
            try:
                pictures.append(
                    load_image(image, max_pixels=max_pixels or self.max_pixels, name=name)
                )
            except ImageError as exc:
                pictures.append(
                    {"error": schema.status(schema.INVALID_ARGUMENT, f"Bad image data: {exc}")}
                )
        memos: list[dict[str, Any]] = [{} for _ in requests]
        self._batched(requests, pictures, memos, on_feature)
        return [
            p if isinstance(p, dict) else self._respond(p, r[1], r[2], m, on_feature)
            for p, r, m in zip(pictures, requests, memos, strict=True)
        ]

    def _batched(
        self,
        requests: Sequence[Any],
        pictures: list[Any],
        memos: list[dict[str, Any]],
        on_feature: Callable[[str, float, bool], None] | None,
    ) -> None:
        """One forward pass of the classifier / safe-search net over the pictures needing it;
        results go to each picture's memo (a failure is left for that feature to report)."""
        for kind, key, run in (
            (
                "LABEL_DETECTION",
                "label_probs",
                lambda ims: self.classifier.get().probabilities(ims),
            ),
            ("SAFE_SEARCH_DETECTION", "nsfw", lambda ims: self.safe.get().scores(ims)),
        ):
            idx = [
                i
                for i, (p, r) in enumerate(zip(pictures, requests, strict=True))
                if not isinstance(p, dict) and any(f.type == kind for f in r[1])
            ]
            if len(idx) < 2:
                continue
            start = time.perf_counter()
            try:
                values = run([pictures[i] for i in idx])
            except Exception:  # each picture's own pass will report it
                continue
            for i, value in zip(idx, values, strict=True):
                memos[i][key] = value
                memos[i][key + "_seconds"] = (time.perf_counter() - start) / len(idx)

    def _respond(
        self,
        img: Image.Image,
        wanted: list[Feature],
        context: ImageContext,
        memo: dict[str, Any],
        on_feature: Callable[[str, float, bool], None] | None,
    ) -> dict[str, Any]:
        """Every feature of one decoded picture; ``memo`` shares faces, saliency and batched
        outputs between them."""
        response: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for feature in wanted:
            start, ok = time.perf_counter(), False
            try:
                response.update(self._run(feature, img, context, memo))
                ok = True
            except DecafError as exc:
                errors.append(schema.status(schema.INVALID_ARGUMENT, f"{feature.type}: {exc}"))
            except NotImplementedError as exc:
                errors.append(schema.status(schema.UNIMPLEMENTED, str(exc)))
            except Exception as exc:  # a model failure must not lose the other features
                errors.append(
                    schema.status(schema.INTERNAL, f"{feature.type}: {type(exc).__name__}: {exc}")
                )
            if on_feature is not None:
                shared = memo.get(_BATCHED_SECONDS.get(feature.type, ""), 0.0)
                on_feature(feature.type, time.perf_counter() - start + shared, ok)
        if errors:
            message = "; ".join(e["message"] for e in errors)
            response["error"] = schema.status(errors[0]["code"], message)
        return response

    def many(
        self,
        images: Sequence[ImageSource],
        features: Iterable[str | int | Feature] | None = None,
        context: ImageContext | None = None,
        max_results: int = 10,
        progress: Callable[[int, int], None] | None = None,
        chunk: int = 16,
    ) -> dict[str, Any]:
        """``{"responses": [...]}`` for several pictures, in order (Cloud Vision's batch), run
        ``chunk`` pictures at a time through :meth:`batch`."""
        wanted = schema.features_from(features, max_results)
        context = context or ImageContext()
        out: list[dict[str, Any]] = []
        for first in range(0, len(images), chunk):
            part = images[first : first + chunk]
            names = [str(p) if isinstance(p, str | os.PathLike) else None for p in part]
            out += self.batch([(p, wanted, context, n) for p, n in zip(part, names, strict=True)])
            if progress:
                progress(len(out), len(images))
        return {"responses": out}

    def _faces_of(self, img: Image.Image, memo: dict[str, Any]) -> list[dict[str, Any]]:
        if "faces" not in memo:
            memo["faces"] = self.faces.get()(np.asarray(img), 100)
        return memo["faces"]

    def _saliency_of(self, img: Image.Image, memo: dict[str, Any]) -> tuple[Any, Any]:
        if "saliency" not in memo:
            rgb = colors.small(img)
            memo["saliency"] = (rgb, colors.saliency(rgb))
        return memo["saliency"]

    def _run(
        self, f: Feature, img: Image.Image, ctx: ImageContext, memo: dict[str, Any]
    ) -> dict[str, Any]:
        kind, n = f.type, f.max_results
        if kind == "LABEL_DETECTION":
            found = labels(self.classifier.get(), img, n, memo.get("label_probs"))
            return {"labelAnnotations": found} if found else {}
        if kind == "OBJECT_LOCALIZATION":
            found = (
                objects.from_detector(self.detector, img, n)
                if self.detector is not None
                else objects.from_classifier(self.imagenet.get(), img, n)
            )
            return {"localizedObjectAnnotations": found} if found else {}
        if kind == "FACE_DETECTION":
            found = self._faces_of(img, memo)[:n]
            return {"faceAnnotations": found} if found else {}
        if kind in ("TEXT_DETECTION", "DOCUMENT_TEXT_DETECTION"):
            from decaf.annotate.text import annotate as text_json

            lines = self.text.get().lines(img)
            return text_json(
                lines,
                img.width,
                img.height,
                ctx.language_hints,
                kind == "DOCUMENT_TEXT_DETECTION",
                ctx.text_confidence,
            )
        if kind == "SAFE_SEARCH_DETECTION":
            p = memo["nsfw"] if "nsfw" in memo else self.safe.get().scores([img])[0]
            return {"safeSearchAnnotation": safesearch_annotation(p)}
        if kind == "IMAGE_PROPERTIES":
            rgb, sal = self._saliency_of(img, memo)
            return {"imagePropertiesAnnotation": colors.dominant_colors(rgb, sal)}
        if kind == "CROP_HINTS":
            sal = self._saliency_of(img, memo)[1]
            boxes = [_corners(f["fdBoundingPoly"]) for f in self._faces_of(img, memo)]
            sal = colors.with_faces(sal, boxes, img.width, img.height)
            hints = colors.crop_hints(sal, img.width, img.height, ctx.aspect_ratios)
            return {"cropHintsAnnotation": hints}
        raise NotImplementedError(
            f"{kind} is not available offline in decaf; it offers {', '.join(schema.SUPPORTED)}"
        )


def _corners(poly: dict[str, Any]) -> tuple[float, float, float, float]:
    xs = [v["x"] for v in poly["vertices"]]
    ys = [v["y"] for v in poly["vertices"]]
    return min(xs), min(ys), max(xs), max(ys)


def _loaded(value: Any, load: Callable[[str | os.PathLike], T]) -> T | None:
    if value is None or not isinstance(value, (str, os.PathLike)):
        return value
    return load(value)


def annotate(
    image: ImageSource,
    features: Iterable[str | int | Feature] | None = None,
    *,
    classifier: str | os.PathLike | Classifier | None = None,
    detector: str | os.PathLike | Detector | None = None,
    max_results: int = 10,
    aspect_ratios: Sequence[float] = (),
    language_hints: Sequence[str] = (),
    device: str = "cpu",
) -> dict[str, Any]:
    """One picture's Cloud Vision ``AnnotateImageResponse`` as a dict.

    A convenience for one call: it builds an :class:`Annotator`, which loads the models the
    features need. For many pictures keep one Annotator and call it."""
    context = ImageContext(tuple(aspect_ratios), tuple(language_hints))
    ann = Annotator(classifier, detector, device)
    return ann(image, features, context, max_results)
