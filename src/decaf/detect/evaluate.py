"""Pascal VOC detection metrics: per-class AP at an IoU threshold, VOC07 11-point or area.

The protocol is the one py-faster-rcnn's ``voc_eval`` implements (research notes A2):
detections of a class are taken in descending score order; one is a true positive when its best
IoU with a not-yet-matched ground-truth box of that image exceeds the threshold (strictly), a
second hit on a matched box is a false positive, and a hit on a ``difficult`` box is neither
(difficult boxes are also left out of the positives count). AP is either the VOC2007 11-point
mean of interpolated precision at recall 0, 0.1, …, 1, or the VOC2010+ area under the monotone
precision envelope.

Boxes are (x1, y1, x2, y2) in decaf's continuous convention (a box covers x1 ≤ x < x2), so
IoU needs no "+1": :mod:`decaf.data.annotations` converts VOC's 1-based inclusive and
ImageNet's 0-based inclusive integers on the way in and out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from decaf.core.errors import OptionError

if TYPE_CHECKING:
    from decaf.detect.predict import Detector


@dataclass(frozen=True)
class GroundTruth:
    image: str
    label: str
    box: tuple[float, float, float, float]
    difficult: bool = False


@dataclass(frozen=True)
class Detection:
    image: str
    label: str
    score: float
    box: tuple[float, float, float, float]


def iou(box: Sequence[float], boxes: np.ndarray) -> np.ndarray:
    """IoU of one (x1, y1, x2, y2) box with each row of ``boxes`` (continuous coordinates)."""
    if len(boxes) == 0:
        return np.zeros(0)
    ix1 = np.maximum(boxes[:, 0], box[0])
    iy1 = np.maximum(boxes[:, 1], box[1])
    ix2 = np.minimum(boxes[:, 2], box[2])
    iy2 = np.minimum(boxes[:, 3], box[3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, np.finfo(np.float64).eps)


def average_precision(recall: np.ndarray, precision: np.ndarray, voc07: bool) -> float:
    """AP from a precision/recall curve (points in detection order)."""
    if voc07:
        ap = 0.0
        for t in np.linspace(0, 1, 11):
            above = precision[recall >= t]
            ap += (above.max() if above.size else 0.0) / 11
        return float(ap)
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(p) - 2, -1, -1):  # the monotone envelope
        p[i] = max(p[i], p[i + 1])
    steps = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def evaluate_class(
    detections: Iterable[Detection],
    truths: Iterable[GroundTruth],
    iou_threshold: float = 0.5,
    voc07: bool = True,
) -> dict[str, float]:
    """AP, the number of positives and the final recall/precision for one class."""
    by_image: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    grouped: dict[str, list[GroundTruth]] = {}
    for t in truths:
        grouped.setdefault(t.image, []).append(t)
    npos = 0
    for image, items in grouped.items():
        boxes = np.array([t.box for t in items], np.float64).reshape(-1, 4)
        difficult = np.array([t.difficult for t in items], bool)
        by_image[image] = (boxes, difficult)
        npos += int((~difficult).sum())
    dets = sorted(detections, key=lambda d: -d.score)
    matched = {image: np.zeros(len(v[0]), bool) for image, v in by_image.items()}
    tp = np.zeros(len(dets))
    fp = np.zeros(len(dets))
    for i, d in enumerate(dets):
        boxes, difficult = by_image.get(d.image, (np.zeros((0, 4)), np.zeros(0, bool)))
        overlaps = iou(d.box, boxes)
        best = int(np.argmax(overlaps)) if overlaps.size else -1
        if best >= 0 and overlaps[best] > iou_threshold:
            if difficult[best]:
                continue  # neither TP nor FP
            if not matched[d.image][best]:
                tp[i] = 1
                matched[d.image][best] = True
            else:
                fp[i] = 1
        else:
            fp[i] = 1
    tp_c, fp_c = np.cumsum(tp), np.cumsum(fp)
    recall = tp_c / max(npos, 1)
    precision = tp_c / np.maximum(tp_c + fp_c, np.finfo(np.float64).eps)
    ap = average_precision(recall, precision, voc07) if npos else float("nan")
    return {
        "ap": ap,
        "positives": npos,
        "detections": len(dets),
        "recall": float(recall[-1]) if len(recall) else 0.0,
        "precision": float(precision[-1]) if len(precision) else 0.0,
    }


def evaluate(
    detections: Iterable[Detection],
    truths: Iterable[GroundTruth],
    classes: Sequence[str] | None = None,
    iou_threshold: float = 0.5,
    voc07: bool = True,
) -> dict[str, object]:
    """Per-class AP and their mean (``mAP50`` at the default threshold) over ``classes``
    (default: every class in the ground truth; classes without positives are left out)."""
    dets = list(detections)
    gts = list(truths)
    names = list(classes) if classes is not None else sorted({t.label for t in gts})
    per_class = {}
    for name in names:
        per_class[name] = evaluate_class(
            [d for d in dets if d.label == name], [t for t in gts if t.label == name],
            iou_threshold, voc07,
        )  # fmt: skip
    aps = [v["ap"] for v in per_class.values() if not np.isnan(v["ap"])]
    key = f"mAP{round(iou_threshold * 100)}"
    return {
        key: float(np.mean(aps)) if aps else 0.0,
        "per_class": per_class,
        "metric": "VOC07 11-point" if voc07 else "VOC2010+ area",
        "iou_threshold": iou_threshold,
    }


def coco_ap(detections: Iterable[Detection], truths: Iterable[GroundTruth],
            classes: Sequence[str]) -> dict[str, float]:  # fmt: skip
    """COCO box AP@[.5:.95], AP50 and AP75 through pycocotools (an optional dependency).

    Ground truth marked difficult is passed as ``iscrowd``, which COCO's protocol ignores the way
    VOC ignores difficult objects. Boxes are continuous, as COCO's are.
    """
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as err:
        raise OptionError("COCO AP needs pycocotools (pip install 'decaf[coco]')") from err
    import contextlib
    import io

    truths, detections = list(truths), list(detections)
    ids = {name: k + 1 for k, name in enumerate(sorted({t.image for t in truths}))}
    cats = {name: k + 1 for k, name in enumerate(classes)}

    def xywh(b: Sequence[float]) -> list[float]:
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    gt = COCO()
    gt.dataset = {
        "images": [{"id": i} for i in ids.values()],
        "categories": [{"id": c, "name": n} for n, c in cats.items()],
        "annotations": [
            {"id": k + 1, "image_id": ids[t.image], "category_id": cats[t.label],
             "bbox": xywh(t.box), "area": (t.box[2] - t.box[0]) * (t.box[3] - t.box[1]),
             "iscrowd": int(t.difficult)}
            for k, t in enumerate(truths)
        ],
    }  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        found = [{"image_id": ids[d.image], "category_id": cats[d.label], "bbox": xywh(d.box),
                  "score": float(d.score)} for d in detections if d.image in ids]  # fmt: skip
        if not found:
            return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
        run = COCOeval(gt, gt.loadRes(found), "bbox")
        run.evaluate()
        run.accumulate()
        run.summarize()
    return {"AP": float(run.stats[0]), "AP50": float(run.stats[1]), "AP75": float(run.stats[2])}


def detect_split(detector: Detector, root: str | os.PathLike, split: str = "val",
                 fmt: str = "voc") -> tuple[list[Detection], list[GroundTruth]]:  # fmt: skip
    """Every detection (no score cut) and every ground-truth box of a split, for ``evaluate``."""
    from decaf.detect.data import DetectionDataset

    data = DetectionDataset(root, split, fmt, classes=detector.classes)
    truths, dets = [], []
    for i, sample in enumerate(data.samples):
        truths += [GroundTruth(sample.key, b.label, b.xyxy, b.difficult)
                   for b in sample.annotation.boxes]  # fmt: skip
        img, _ = data[i]
        pred = detector.predict([img], score_threshold=0.0, keys=[sample.key])[0]
        for box, label, score in zip(pred["boxes"].tolist(), pred["labels"].tolist(),
                                     pred["scores"].tolist(), strict=True):  # fmt: skip
            dets.append(Detection(sample.key, detector.classes[label - 1], score, tuple(box)))
    if not truths:
        raise OptionError(f"{root}: the {split} split has no objects to evaluate against")
    return dets, truths


def evaluate_detector(detector: Detector, root: str | os.PathLike, split: str = "val",
                      fmt: str = "voc", voc07: bool = True) -> dict[str, Any]:  # fmt: skip
    """VOC AP of ``detector`` on a split (difficult/crowd objects ignored by the protocol)."""
    dets, truths = detect_split(detector, root, split, fmt)
    return evaluate(dets, truths, detector.classes, 0.5, voc07)


def evaluate_split(bundle: str | os.PathLike, root: str | os.PathLike, split: str = "val",
                   fmt: str = "voc", proposals: str | None = None, voc07: bool = True,
                   coco: bool = False, device: str = "cpu") -> dict[str, Any]:  # fmt: skip
    """``decaf eval detector``: VOC AP (and COCO AP when asked for) of a bundle on a split."""
    from decaf.detect.predict import Detector

    detector = Detector(bundle, proposals, device)
    dets, truths = detect_split(detector, root, split, fmt)
    report = evaluate(dets, truths, detector.classes, 0.5, voc07)
    if coco:
        report["coco"] = coco_ap(dets, truths, detector.classes)
    return report
