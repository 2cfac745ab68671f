"""Detections painted over their picture: masks tinted, boxes outlined, labels written."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from decaf.detect.predict import Detections

BOX = (255, 0, 0)
LABEL = (255, 255, 0)
TINT = np.array([0, 127, 127], np.float32)  # added to half the pixel: masks show cyan


def draw_detections(picture: Image.Image, found: Detections) -> Image.Image:
    """A copy of ``picture`` with ``found`` drawn on it."""
    canvas = picture.convert("RGB")
    masks = [o.mask for o in found.objects if o.mask is not None]
    if masks:
        pixels = np.asarray(canvas, np.float32).copy()
        covered = np.any(masks, axis=0)
        pixels[covered] = pixels[covered] * 0.5 + TINT
        canvas = Image.fromarray(pixels.round().astype(np.uint8))
    else:
        canvas = canvas.copy()
    pen = ImageDraw.Draw(canvas)
    for o in found.objects:
        pen.rectangle(o.box, outline=BOX, width=2)
        pen.text((o.box[0] + 2, o.box[1] + 2), f"{o.label} {o.score:.2f}", fill=LABEL)
    return canvas
