"""Shared pieces for the annotate tests: one Annotator per session (its engines load once) and
pictures of text drawn with Pillow's own scalable font."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from decaf.annotate import Annotator

LINES = [
    "Hello World 2024",
    "The quick brown fox jumps",
    "over the lazy dog",
    "",
    "Second paragraph here",
]


def text_picture(
    lines: list[str] = LINES, size: int = 28, canvas: tuple[int, int] = (640, 480)
) -> Image.Image:
    img = Image.new("RGB", canvas, "white")
    pen = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    for i, line in enumerate(lines):
        pen.text((40, 50 + int(size * 1.45) * i), line, fill="black", font=font)
    return img


@pytest.fixture(scope="session")
def annotator() -> Annotator:
    return Annotator()
