"""Regenerate the pictures in docs/annotate.md with ``decaf annotate --draw`` (about 30 s).

    python docs/make_annotate_figures.py

- ``images/annotate_astronaut.jpg``: faces with eyes, labels, a 16:9 crop hint (skimage).
- ``images/annotate_objects.jpg``: out-of-the-box objects on three skimage/sklearn photos.
- ``images/annotate_text.jpg``: words found on a page turned 90°, with the text read back.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import skimage.data
from PIL import Image, ImageDraw, ImageFont

from decaf.cli import main as decaf

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS / "images"
sys.path.insert(0, str(DOCS.parent))

from tests.annotate.main_objects import photo  # noqa: E402


def drawn(src: Image.Image, tmp: Path, name: str, *args: str) -> Image.Image:
    src.save(tmp / f"{name}.png")
    out = tmp / f"{name}_drawn.png"
    code = decaf(["annotate", str(tmp / f"{name}.png"), "--draw", str(out), "-q", *args])
    if code != 0:
        raise SystemExit(f"decaf annotate failed on {name}")
    return Image.open(out).convert("RGB")


def row(pictures: list[Image.Image], height: int = 300) -> Image.Image:
    scaled = [p.resize((round(p.width * height / p.height), height)) for p in pictures]
    sheet = Image.new(
        "RGB", (sum(p.width for p in scaled) + 6 * (len(scaled) - 1), height), "white"
    )
    x = 0
    for p in scaled:
        sheet.paste(p, (x, 0))
        x += p.width + 6
    return sheet


def text_page() -> Image.Image:
    img = Image.new("RGB", (640, 360), "white")
    pen = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=30)
    for i, line in enumerate(
        ["Offline text reading", "turned a quarter round", "", "still in order"]
    ):
        pen.text((30, 30 + 45 * i), line, fill="black", font=font)
    return img.rotate(90, expand=True)


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        astro = Image.fromarray(skimage.data.astronaut())
        drawn(
            astro, tmp, "astro", "--features", "labels,faces,crop-hints", "--aspect-ratios", "1.78"
        ).save(IMAGES / "annotate_astronaut.jpg", quality=88)
        objs = [
            drawn(Image.fromarray(photo(n)), tmp, n, "--features", "objects")
            for n in ("motorcycle", "coffee", "flower")
        ]
        row(objs).save(IMAGES / "annotate_objects.jpg", quality=88)
        drawn(text_page(), tmp, "text", "--features", "text").save(
            IMAGES / "annotate_text.jpg", quality=88
        )


if __name__ == "__main__":
    main()
