"""Train the built-in style models that ship in ``src/decaf/stylize/models/``.

* ``fast_builtin.pt`` (+ ``.onnx``): one CIN network over the four built-in procedural styles
  (swirl, mosaic, pointillism, hatching), what ``decaf stylize --method fast`` uses;
* ``adain_lite0.pt``: an AdaIN decoder on EfficientNet-Lite0 features (up to ``blocks.2``),
  what ``decaf stylize --method adain`` uses, trained on the procedural styles plus the texture
  and colour pictures that ship with scikit-image (no download).

Content pictures are the offline photos of scikit-image and scikit-learn with heavy random
crops, scales and flips. Everything runs through the public CLI, so this is also a worked
example of ``decaf train style``. On 2 CPU cores the defaults take about 25 minutes in all.

    python docs/make_builtin_models.py [--fast-iters 3000] [--adain-iters 3000] [--only fast|adain]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from decaf.cli import main as decaf

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "src" / "decaf" / "stylize" / "models"
RUNS = ROOT / "out" / "builtin_runs"  # snapshots and metrics.csv (not shipped)
PROCEDURAL = ("swirl", "mosaic", "pointillism", "hatching")
# alphabetical: the order the shipped decoder was trained with (style k is sampled by index)
TEXTURES = ("brick", "colorwheel", "grass", "gravel", "hubble_deep_field", "immunohistochemistry")


def run(argv: list[str]) -> None:
    print("decaf " + " ".join(argv), flush=True)
    code = decaf(argv)
    if code != 0:
        sys.exit(code)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast-iters", type=int, default=3000)
    ap.add_argument("--adain-iters", type=int, default=3000)
    ap.add_argument("--only", choices=("fast", "adain"))
    args = ap.parse_args()
    MODELS.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "fast"):
        fast = MODELS / "fast_builtin.pt"
        run(["train", "style", "--method", "cin", "--style", ",".join(PROCEDURAL),
             "--iters", str(args.fast_iters), "--size", "192", "--style-size", "256",
             "--content-weight", "6", "--style-weight", "30", "--tv-weight", "10",
             "--run-dir", str(RUNS / "fast"), "-o", str(fast)])  # fmt: skip
        run(["export", "onnx", "--model", str(fast), "-o", str(fast.with_suffix(".onnx"))])
    if args.only in (None, "adain"):
        with tempfile.TemporaryDirectory() as tmp:
            styles = list(PROCEDURAL)
            for name in TEXTURES:
                arr = getattr(skimage.data, name)()
                img = Image.fromarray(np.asarray(arr)).convert("RGB")
                path = Path(tmp) / f"{name}.png"
                img.save(path)
                styles.append(str(path))
            run(["train", "style", "--method", "adain", "--style", ",".join(styles),
                 "--iters", str(args.adain_iters), "--size", "192", "--style-size", "256",
                 "--content-weight", "1", "--style-weight", "20", "--run-dir",
                 str(RUNS / "adain"), "-o", str(MODELS / "adain_lite0.pt")])  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
