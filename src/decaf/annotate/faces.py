"""FACE_DETECTION with OpenCV's Haar cascades (they ship in opencv-contrib-python-headless 4.x).

Why cascades: they are the only face models that ship inside a wheel we can install (no wheel
carries YuNet's ONNX file; mediapipe and facenet-pytorch conflict with our pins). They are fast
and good on upright frontal faces, weak on turned, small or dark ones.

What each field means here:
- ``fdBoundingPoly`` is the cascade's box; ``boundingPoly`` that box grown by a quarter on each
  side and up (Cloud Vision's is the whole head, the detector's the skin), clipped to the picture.
- ``detectionConfidence`` is a logistic of the last cascade stage's margin (``levelWeights``):
  a monotone score, not a calibrated probability.
- ``LEFT_EYE``/``RIGHT_EYE`` come from the eye cascade in the upper part of the face; left and
  right are the viewer's (Cloud Vision's rule: LEFT_EYE is usually the person's right eye).
- ``rollAngle`` is the eye line's angle; pan and tilt are 0 (a cascade cannot tell them).
- ``joyLikelihood`` comes from how many smile-cascade windows agree in the lower half; every
  other likelihood is UNKNOWN.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from decaf.annotate import schema

#: Pictures are searched at this long side at most (Cloud Vision suggests 1600 for faces; 1024
#: keeps a 640×480 call near 50 ms on 2 cores and still finds faces 24 px wide at that scale).
WORK_SIDE = 1024
#: Cascade scale step (1.25: as many faces found as at 1.2 on the benchmark, no false ones) and
#: the downscale of the profile search.
SCALE_STEP = 1.25
PROFILE_SCALE = 3
#: Smile-cascade windows that agree (after grouping): UNLIKELY from 10 … VERY_LIKELY from 120.
#: Set by eye on skimage's astronaut (167, smiling); not calibrated on a face set.
_JOY_CUTS = (10, 30, 60, 120)


def _cascade(name: str) -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + name
    c = cv2.CascadeClassifier(path)
    if c.empty():
        raise RuntimeError(f"{path}: OpenCV could not load this Haar cascade")
    return c


@dataclass(frozen=True)
class _Face:
    box: tuple[float, float, float, float]  #: x1, y1, x2, y2 in the picture's pixels
    weight: float
    profile: bool


class FaceFinder:
    """Loads the cascades once. A lock serialises calls: OpenCV's cascade keeps per-call scratch
    state inside the classifier object, so one object must not run on two threads at once."""

    def __init__(self) -> None:
        self.frontal = _cascade("haarcascade_frontalface_default.xml")
        self.profile = _cascade("haarcascade_profileface.xml")
        self.eye = _cascade("haarcascade_eye.xml")
        self.smile = _cascade("haarcascade_smile.xml")
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray, max_results: int) -> list[dict[str, Any]]:
        h, w = rgb.shape[:2]
        scale = min(1.0, WORK_SIDE / max(h, w))
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if scale < 1.0:
            gray = cv2.resize(
                gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        gray = cv2.equalizeHist(gray)
        with self._lock:
            faces = self._find(gray)
            faces.sort(key=lambda f: -f.weight)
            out = [self._describe(gray, f, scale, w, h) for f in faces[:max_results]]
        return out

    def _find(self, gray: np.ndarray) -> list[_Face]:
        """Frontal faces from 1/16 of the short side (24 px at least); profiles, both ways, at a
        third of the resolution (from 72 px): they cost two passes. Chosen by measurement
        (benchmarks/annotate.py --only faces): the same recall as finer settings, fewer false
        faces, under half the time."""
        side = max(24, min(gray.shape) // 16)
        found = [_Face(b, wt, False) for b, wt in _detect(self.frontal, gray, side)]
        k = PROFILE_SCALE
        small = cv2.resize(gray, (gray.shape[1] // k, gray.shape[0] // k),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        w = small.shape[1]
        turned = [(tuple(k * v for v in b), wt) for b, wt in _detect(self.profile, small, 24)]
        turned += [
            ((k * (w - x2), k * y1, k * (w - x1), k * y2), wt)
            for (x1, y1, x2, y2), wt in _detect(self.profile, small[:, ::-1].copy(), 24)
        ]
        for box, wt in turned:  # a profile face counts unless a frontal one already covers it
            if all(schema.iou(box, f.box) < 0.3 for f in found):
                found.append(_Face(box, wt, True))
        return found

    def _describe(
        self, gray: np.ndarray, face: _Face, scale: float, w: int, h: int
    ) -> dict[str, Any]:
        eyes = [] if face.profile else self._eyes(gray, face.box)
        joy = "UNKNOWN" if face.profile else self._joy(gray, face.box)
        x1, y1, x2, y2 = (v / scale for v in face.box)
        pad = 0.25 * (x2 - x1)
        head = (x1 - pad, y1 - 1.6 * pad, x2 + pad, y2 + pad)
        landmarks = [
            {
                "type": kind,
                "position": {"x": round(x / scale, 2), "y": round(y / scale, 2), "z": 0.0},
            }
            for kind, (x, y) in zip(("LEFT_EYE", "RIGHT_EYE"), eyes, strict=False)
        ]
        roll = 0.0
        if len(eyes) == 2:
            (lx, ly), (rx, ry) = eyes
            roll = math.degrees(math.atan2(ry - ly, rx - lx))
        out: dict[str, Any] = {
            "boundingPoly": {"vertices": schema.vertices(head, w, h)},
            "fdBoundingPoly": {"vertices": schema.vertices((x1, y1, x2, y2), w, h)},
            "landmarks": landmarks,
            "rollAngle": round(roll, 2),
            "panAngle": 0.0,
            "tiltAngle": 0.0,
            "detectionConfidence": round(1.0 / (1.0 + math.exp(-face.weight / 2.5)), 4),
            "landmarkingConfidence": 0.5 if len(eyes) == 2 else 0.0,
            "joyLikelihood": joy,
        }
        for kind in ("sorrow", "anger", "surprise", "underExposed", "blurred", "headwear"):
            out[f"{kind}Likelihood"] = "UNKNOWN"
        return out

    def _eyes(self, gray: np.ndarray, box: tuple[float, ...]) -> list[tuple[float, float]]:
        """The best eye in each half of the face's upper part, left half (viewer's) first."""
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        fw = x2 - x1
        roi = gray[y1 : y1 + int(0.6 * (y2 - y1)), x1:x2]
        halves: dict[bool, tuple[float, float, float]] = {}
        for (ex1, ey1, ex2, ey2), wt in _detect(self.eye, roi, max(8, fw // 8), neighbors=3):
            cx, cy = x1 + (ex1 + ex2) / 2, y1 + (ey1 + ey2) / 2
            right = cx > x1 + fw / 2
            if right not in halves or wt > halves[right][2]:
                halves[right] = (cx, cy, wt)
        if len(halves) < 2:
            return []
        return [halves[False][:2], halves[True][:2]]

    def _joy(self, gray: np.ndarray, box: tuple[float, ...]) -> str:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        roi = gray[y1 + (y2 - y1) // 2 : y2, x1:x2]
        if min(roi.shape) < 16:
            return "UNKNOWN"
        _, counts = self.smile.detectMultiScale2(
            roi, scaleFactor=1.1, minNeighbors=1, minSize=(max(12, (x2 - x1) // 4),) * 2
        )
        n = int(np.max(counts)) if len(counts) else 0
        return schema.likelihood(n, _JOY_CUTS)


def _detect(
    cascade: cv2.CascadeClassifier, gray: np.ndarray, side: int, neighbors: int = 3
) -> list[tuple[tuple[float, float, float, float], float]]:
    """Boxes (x1, y1, x2, y2) with their last-stage margins, at scale steps of SCALE_STEP."""
    if min(gray.shape[:2]) < side:
        return []
    rects, _, weights = cascade.detectMultiScale3(
        gray,
        scaleFactor=SCALE_STEP,
        minNeighbors=neighbors,
        minSize=(side, side),
        outputRejectLevels=True,
    )
    return [
        ((float(x), float(y), float(x + bw), float(y + bh)), float(wt))
        for (x, y, bw, bh), wt in zip(rects, np.ravel(weights), strict=False)
    ]
