"""LABEL_DETECTION: ImageNet classes from the offline EfficientNet-Lite weights, or the classes
of the user's own classifier bundle.

``description`` is the class's first name ("Egyptian cat" of "Egyptian cat"), capitalised as
Cloud Vision writes them; ``score`` and ``topicality`` are both the softmax probability (a
single-label classifier has no separate notion of topicality). ``mid`` cannot be a Freebase id
(Google's knowledge-graph ids are not published for ImageNet classes): for ImageNet it is the
class's WordNet synset id prefixed ``wordnet:`` (``wordnet:n02124075``), which names the same
concept unambiguously; for a user's classifier it is ``decaf:`` plus the class name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from decaf.classify import Classifier, Prediction
from decaf.zoo.registry import imagenet_class_names, imagenet_wnids

#: Labels below this probability are left out (Cloud Vision also omits weak labels).
MIN_SCORE = 0.01


def is_imagenet(clf: Classifier) -> bool:
    return len(clf.classes) == 1000 and tuple(clf.classes) == imagenet_class_names()


def mids(clf: Classifier) -> Callable[[Prediction], str]:
    """The ``mid`` of each prediction of ``clf``; whether it is the ImageNet classifier (1000
    names compared) is decided once here, not once per label."""
    if is_imagenet(clf):
        wnids = imagenet_wnids()
        return lambda pred: f"wordnet:{wnids[pred.index]}"
    return lambda pred: f"decaf:{pred.label}"


def description(label: str) -> str:
    first = label.split(",")[0].strip()
    return first[:1].upper() + first[1:]


def labels(
    clf: Classifier, img: Image.Image, max_results: int, probs: torch.Tensor | None = None
) -> list[dict[str, Any]]:
    """``labelAnnotations``: the top classes, best first (``probs``: this picture's class
    probabilities when a batched pass already computed them)."""
    p = clf.probabilities([img])[0] if probs is None else probs
    scores, idx = p.topk(min(max_results, p.numel()))
    preds = [
        Prediction(int(i), clf.classes[int(i)], float(s)) for s, i in zip(scores, idx, strict=True)
    ]
    mid = mids(clf)
    return [
        {
            "mid": mid(p),
            "description": description(p.label),
            "score": round(p.score, 4),
            "topicality": round(p.score, 4),
        }
        for p in preds
        if p.score >= MIN_SCORE
    ]
