"""Regenerate the pictures in docs/classify.md, all made by decaf's own code and commands.

    python docs/make_classify_figures.py     # about 2 minutes on 2 cores

- ``images/photo_styles.jpg``: three samples of every look of ``decaf data synth photo-styles``.
- ``images/photo_styles_confusion.png``: the confusion matrix ``decaf eval classifier
  --confusion`` draws for an EfficientNet-Lite0 fine-tuned on that set (recipe defaults, 3 epochs),
  next to ``images/photo_styles_eval.json`` with the figures it printed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from decaf.cli import main as decaf

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS / "images"


def sample_sheet(root: Path, dest: Path, per_look: int = 3, cell: int = 128) -> None:
    looks = (root / "classes.txt").read_text().split()
    sheet = Image.new("RGB", (len(looks) * (cell + 4), per_look * (cell + 4) + 18), "white")
    draw = ImageDraw.Draw(sheet)
    for i, look in enumerate(looks):
        draw.text((i * (cell + 4) + 4, 3), look, fill="black")
        for j, path in enumerate(sorted((root / look).iterdir())[::7][:per_look]):
            img = Image.open(path).convert("RGB").resize((cell, cell), Image.LANCZOS)
            sheet.paste(img, (i * (cell + 4), 18 + j * (cell + 4)))
    sheet.save(dest, quality=90)


def main() -> int:
    IMAGES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "styles"
        steps = [
            ["data", "synth", "photo-styles", "-o", str(data), "--per-class", "40",
             "--size", "128"],
            ["train", "classifier", str(data / "train.txt"), "--val", str(data / "val.txt"),
             "--size", "128", "--epochs", "3", "--batch", "16", "--workers", "0",
             "-o", f"{tmp}/styles.pt"],
        ]  # fmt: skip
        for argv in steps:
            if decaf(argv) != 0:
                return 1
        sample_sheet(data, IMAGES / "photo_styles.jpg")
        confusion = IMAGES / "photo_styles_confusion.png"
        report = Path(tmp) / "eval.json"
        import contextlib
        import io

        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = decaf(["eval", "classifier", f"{tmp}/styles.pt", str(data / "val.txt"),
                          "--confusion", str(confusion), "--workers", "0", "--json"])  # fmt: skip
        if code != 0:
            return code
        report.write_text(buf.getvalue())
        figures = json.loads(buf.getvalue().strip().splitlines()[-1])
        keep = {k: figures[k] for k in ("top1", "top5", "images", "per_class")}
        (IMAGES / "photo_styles_eval.json").write_text(json.dumps(keep, indent=1) + "\n")
        print(json.dumps(keep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
