"""A response painted over its picture: objects, faces and eyes, words, crop hints, labels."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageDraw, ImageFont

OBJECT, FACE, EYE, WORD, CROP, TEXT = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 200, 255),
    (255, 0, 255),
    (255, 255, 0),
    (255, 255, 255),
)


def _points(poly: dict[str, Any], w: int, h: int) -> list[tuple[float, float]]:
    if poly.get("normalizedVertices"):
        return [(p.get("x", 0) * w, p.get("y", 0) * h) for p in poly["normalizedVertices"]]
    return [(p.get("x", 0), p.get("y", 0)) for p in poly.get("vertices", [])]


def draw_response(picture: Image.Image, response: dict[str, Any]) -> Image.Image:
    """A copy of ``picture`` with what ``response`` found drawn on it."""
    canvas = picture.convert("RGB").copy()
    pen = ImageDraw.Draw(canvas)
    w, h = canvas.size
    size = max(12, min(w, h) // 30)  # legible at any picture size
    font = ImageFont.load_default(size=size)
    for hint in response.get("cropHintsAnnotation", {}).get("cropHints", []):
        pen.polygon(_points(hint["boundingPoly"], w, h), outline=CROP, width=1)
    for word in response.get("textAnnotations", [])[1:]:
        pen.polygon(_points(word["boundingPoly"], w, h), outline=WORD, width=1)
    for obj in response.get("localizedObjectAnnotations", []):
        pts = _points(obj["boundingPoly"], w, h)
        pen.polygon(pts, outline=OBJECT, width=2)
        pen.text(
            (pts[0][0] + 3, pts[0][1] + 3),
            f"{obj['name']} {obj['score']:.2f}",
            fill=OBJECT,
            font=font,
        )
    for face in response.get("faceAnnotations", []):
        pen.polygon(_points(face["fdBoundingPoly"], w, h), outline=FACE, width=2)
        for mark in face.get("landmarks", []):
            x, y = mark["position"]["x"], mark["position"]["y"]
            pen.ellipse((x - 3, y - 3, x + 3, y + 3), outline=EYE, width=2)
    labels = [f"{a['description']} {a['score']:.2f}" for a in response.get("labelAnnotations", [])]
    for i, line in enumerate(labels[:5]):
        pen.text(
            (6, 6 + int(1.25 * size) * i),
            line,
            fill=TEXT,
            font=font,
            stroke_width=2,
            stroke_fill=(0, 0, 0),
        )
    return canvas
