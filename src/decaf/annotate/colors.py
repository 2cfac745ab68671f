"""IMAGE_PROPERTIES and CROP_HINTS: dominant colours and crops that keep what stands out.

Both rest on one saliency map, OpenCV's spectral-residual saliency (Hou & Zhang 2007, in
opencv-contrib's ``saliency`` module) computed on a 128-pixel copy of the picture.

- Dominant colours: k-means (k = 10, fixed seed) in CIELAB, where distances follow perceived
  colour difference, on at most 128×128 pixels. ``pixelFraction`` is the cluster's share of
  pixels; ``score`` its share of the saliency, so a small bright subject outranks a large dull
  background (Cloud Vision's scores also differ from its pixel fractions). ``color`` is the
  cluster's mean sRGB colour, 0–255, as Cloud Vision's examples carry it.
- Crop hints: for each aspect ratio (width / height; none asked → one square crop) the largest
  crop of that shape, slid to hold the most saliency. Faces found by the face cascade count
  double the picture's most salient pixel (spectral residual alone prefers busy texture such as
  a flag to a face, and people crop to keep faces). ``importanceFraction`` is the saliency
  share kept; ``confidence`` the same share (a crop that keeps everything is sure).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PIL import Image
from skimage.color import lab2rgb, rgb2lab
from sklearn.cluster import KMeans

from decaf.annotate import schema

WORK_SIDE = 128
COLORS = 10


def small(img: Image.Image, side: int = WORK_SIDE) -> np.ndarray:
    scale = min(1.0, side / max(img.size))
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return np.asarray(img.resize(size, Image.Resampling.BOX))


def saliency(rgb: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency in [0, 1] with the picture's shape (h, w); flat pictures give
    a uniform map, since nothing in them stands out."""
    sr = cv2.saliency.StaticSaliencySpectralResidual_create()
    ok, sal = sr.computeSaliency(np.ascontiguousarray(rgb[:, :, ::-1]))
    sal = np.asarray(sal, np.float64) if ok else np.zeros(rgb.shape[:2])
    sal = cv2.resize(sal, (rgb.shape[1], rgb.shape[0])) if sal.shape != rgb.shape[:2] else sal
    if not np.isfinite(sal).all() or sal.max() <= 0:
        return np.ones(rgb.shape[:2])
    return sal / sal.max()


def with_faces(
    sal: np.ndarray, boxes: list[tuple[float, float, float, float]], width: int, height: int
) -> np.ndarray:
    """``sal`` with each face box (picture pixels) raised by 2 on the map's own grid."""
    out = sal.copy()
    sy, sx = sal.shape[0] / height, sal.shape[1] / width
    for x1, y1, x2, y2 in boxes:
        out[int(y1 * sy) : int(np.ceil(y2 * sy)), int(x1 * sx) : int(np.ceil(x2 * sx))] += 2.0
    return out


def dominant_colors(rgb: np.ndarray, sal: np.ndarray, k: int = COLORS) -> dict[str, Any]:
    """``imagePropertiesAnnotation`` of a small RGB array and its saliency map."""
    lab = rgb2lab(rgb).reshape(-1, 3)
    k = min(k, len(np.unique(rgb.reshape(-1, 3), axis=0)))
    km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(lab)
    weights = sal.reshape(-1) + 1e-6
    colors = []
    for c in range(k):
        members = km.labels_ == c
        mean = lab2rgb(lab[members].mean(0)[None, None])[0, 0] * 255
        colors.append(
            {
                "color": {
                    "red": float(round(mean[0])),
                    "green": float(round(mean[1])),
                    "blue": float(round(mean[2])),
                },
                "score": round(float(weights[members].sum() / weights.sum()), 6),
                "pixelFraction": round(float(members.mean()), 6),
            }
        )
    colors.sort(key=lambda c: -c["score"])
    return {"dominantColors": {"colors": colors}}


def crop_hints(
    sal: np.ndarray, width: int, height: int, ratios: tuple[float, ...]
) -> dict[str, Any]:
    """``cropHintsAnnotation``: one hint per aspect ratio, in the order asked."""
    hints = []
    for ratio in ratios or (1.0,):
        box, share = _best_crop(sal, width, height, ratio)
        hints.append(
            {
                "boundingPoly": {"vertices": schema.vertices(box, width, height)},
                "confidence": round(share, 4),
                "importanceFraction": round(share, 4),
            }
        )
    return {"cropHints": hints}


def _best_crop(
    sal: np.ndarray, width: int, height: int, ratio: float
) -> tuple[tuple[float, float, float, float], float]:
    """The largest ``ratio`` crop of the picture that keeps the most of ``sal``."""
    cw, ch = (width, width / ratio) if width / ratio <= height else (height * ratio, height)
    h, w = sal.shape
    if cw >= width - 0.5:  # slide vertically
        span = max(1, round(ch / height * h))
        start, share = _slide(sal.sum(1), span)
        y = min(start / h * height, height - ch)
        return (0.0, y, float(width), y + ch), share
    span = max(1, round(cw / width * w))
    start, share = _slide(sal.sum(0), span)
    x = min(start / w * width, width - cw)
    return (x, 0.0, x + cw, float(height)), share


def _slide(profile: np.ndarray, span: int) -> tuple[int, float]:
    """Start of the ``span``-long window holding the most of ``profile``, and its share; among
    equally good windows the one centred nearest the profile's centre of mass."""
    total = float(profile.sum())
    sums = np.convolve(profile, np.ones(span), mode="valid")
    best = np.flatnonzero(sums >= sums.max() - 1e-9 * total)
    centroid = float(np.dot(np.arange(len(profile)) + 0.5, profile) / total)
    start = int(best[np.argmin(np.abs(best + span / 2 - centroid))])
    return start, float(sums[start] / total)
