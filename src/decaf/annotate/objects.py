"""OBJECT_LOCALIZATION: the user's detector bundle, or ImageNet objects from activation maps.

Out of the box there is no trained detector, so decaf localises ImageNet classes the way Zhou
et al. (2016) did: the classifier's class-activation map of each top class, thresholded at a
fraction of its peak, and the box around the connected region holding the peak. Classes whose
boxes overlap a better-scoring one (IoU > 0.5, e.g. "tabby" and "tiger cat" on one cat) are
merged away. The threshold was chosen by measurement on photos with boxes written down by
hand (``benchmarks/annotate.py --objects``; the table is in docs/annotate.md).

With ``--detector BUNDLE`` the user's Faster/Mask R-CNN from ``decaf train detector`` answers
instead, with its own class names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from decaf.annotate import schema
from decaf.annotate.labels import description, mids
from decaf.classify import Classifier
from decaf.detect import Detector

#: Fraction of a map's peak that counts as "the object" (the CAM paper used 0.2).
CAM_THRESHOLD = 0.2
#: Classes below this probability are not reported as objects.
MIN_SCORE = 0.1


def box_from_map(
    cam: torch.Tensor, width: int, height: int, threshold: float = CAM_THRESHOLD
) -> tuple[float, float, float, float]:
    """The x1, y1, x2, y2 pixel box of the region around ``cam``'s peak above ``threshold``."""
    grid = (min(height, 256), min(width, 256))
    up = F.interpolate(cam[None, None], size=grid, mode="bilinear", align_corners=False)[0, 0]
    mask = (up >= threshold * up.max()).numpy()
    regions, _ = ndimage.label(mask)
    peak = np.unravel_index(int(torch.argmax(up)), mask.shape)
    ys, xs = np.nonzero(regions == regions[peak])
    sy, sx = height / grid[0], width / grid[1]
    return (
        float(xs.min() * sx),
        float(ys.min() * sy),
        float((xs.max() + 1) * sx),
        float((ys.max() + 1) * sy),
    )


def from_classifier(
    clf: Classifier, img: Image.Image, max_results: int, threshold: float = CAM_THRESHOLD
) -> list[dict[str, Any]]:
    """Objects from activation maps, best first, one box per distinct region."""
    preds, cams = clf.activation_maps(img, top=max(5, max_results))
    kept: list[tuple[str, str, float, tuple[float, ...]]] = []
    mid = mids(clf)
    for pred, cam in zip(preds, cams, strict=True):
        if pred.score < MIN_SCORE:
            break
        box = box_from_map(cam, img.width, img.height, threshold)
        if all(schema.iou(box, k[3]) <= 0.5 for k in kept):
            kept.append((mid(pred), pred.label, pred.score, box))
    return [
        _object(m, label, score, box, img.width, img.height)
        for m, label, score, box in kept[:max_results]
    ]


def from_detector(det: Detector, img: Image.Image, max_results: int) -> list[dict[str, Any]]:
    """Objects from the user's detector bundle, best first."""
    found = det([img], score_threshold=0.05)[0].objects
    ranked = sorted(found, key=lambda o: -o.score)[:max_results]
    return [
        _object(f"decaf:{o.label}", o.label, o.score, o.box, img.width, img.height) for o in ranked
    ]


def _object(
    mid_: str, label: str, score: float, box: tuple[float, ...], w: int, h: int
) -> dict[str, Any]:
    return {
        "mid": mid_,
        "languageCode": "en",
        "name": description(label),
        "score": round(score, 4),
        "boundingPoly": {"normalizedVertices": schema.normalized(box, w, h)},
    }
