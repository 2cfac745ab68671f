"""Benchmark: fine-tuning from ImageNet weights vs training from scratch, same budget.

Caffe's Flickr-Style example reports 23.6 % (ImageNet start) against 5.7 % (random start) test
accuracy after 1000 iterations. This script measures the same kind of gap offline, on two tasks:

* ``paintings`` — which of the public-domain paintings in ../shared/data/paintings a crop comes
  from (one class per painting). Train crops come from the left 60 % of each painting, val crops
  from the right 40 %, so no val pixel was seen in training. Crops are small (12–25 % of the
  painting's area) so that brushwork and colour, not a memorised landmark, must decide.
* ``photo-styles`` — the synthetic photographic looks of ``decaf data synth photo-styles``
  (noir, vintage, pastel, hdr, hazy, depth of field, long exposure, bright) on scikit-image
  photos: a style-recognition task in the spirit of Flickr Style.

Both inits get the same recipe (EfficientNet-Lite0, SGD momentum 0.9, base lr 0.01, head ×10,
step policy, batch 16, ``--iters`` updates); each repeat uses another seed. It prints validation
top-1 for both, their gap, and the training time.

    python benchmarks/finetune_paintings.py [--tasks paintings,photo-styles] [--iters 100]
                                            [--repeats 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from decaf.classify.train import FinetuneOptions, finetune
from decaf.data.synthetic import photo_styles

ROOT = Path(__file__).resolve().parent.parent
PAINTINGS = ROOT.parent / "shared" / "data" / "paintings"


def painting_crops(out: Path, size: int, train_n: int, val_n: int, seed: int) -> None:
    """``out/{train,val}/<painting>/*.png`` from disjoint regions of each painting."""
    rng = np.random.default_rng(seed)
    for path in sorted(PAINTINGS.glob("*.jpg")):
        img = Image.open(path).convert("RGB")
        w, h = img.size
        cut = int(0.6 * w)
        for split, (x0, x1), n in (("train", (0, cut), train_n), ("val", (cut, w), val_n)):
            folder = out / split / path.stem
            folder.mkdir(parents=True)
            for k in range(n):
                side = int(np.sqrt(rng.uniform(0.12, 0.25) * w * h))
                side = min(side, x1 - x0, h)
                x = int(rng.integers(x0, x1 - side + 1))
                y = int(rng.integers(0, h - side + 1))
                crop = img.crop((x, y, x + side, y + side)).resize((size, size), Image.LANCZOS)
                crop.save(folder / f"{k:03d}.png")


def run_task(task: str, tmp: Path, args: argparse.Namespace, seed: int) -> dict[str, float]:
    root = tmp / f"{task}_{seed}"
    if task == "paintings":
        painting_crops(root, args.size, 60, 25, seed)
        train, val = root / "train", root / "val"
    else:
        photo_styles(root, per_class=40, size=args.size, seed=seed)
        train, val = root / "train.txt", root / "val.txt"
    out: dict[str, float] = {}
    for init in ("pretrained", "scratch"):
        opts = FinetuneOptions(
            size=args.size,
            iters=args.iters,
            batch=16,
            workers=args.workers,
            scratch=init == "scratch",
            seed=seed,
            display=max(1, args.iters // 5),
        )
        s = finetune(train, val, root / f"{init}.pt", opts)
        out[init] = s["val"]["top1"]
        out[f"{init}_seconds"] = s["seconds"]
        out["classes"] = len(s["classes"])
        out["train_images"], out["val_images"] = s["train_images"], s["val_images"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="paintings,photo-styles")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if "paintings" in tasks and not PAINTINGS.is_dir():
        print(f"skipping paintings: {PAINTINGS} is not present", file=sys.stderr)
        tasks.remove("paintings")
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            runs = [run_task(task, Path(tmp), args, seed) for seed in range(args.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            med["runs"] = runs
            report[task] = med
            if not args.json:
                print(
                    f"{task}: {int(med['classes'])} classes (chance {1 / med['classes']:.1%}), "
                    f"{int(med['train_images'])} train / {int(med['val_images'])} val images, "
                    f"{args.iters} iterations of batch 16 at {args.size} px, "
                    f"median of {args.repeats}: pretrained {med['pretrained']:.1%} "
                    f"({med['pretrained_seconds']:.0f} s) vs scratch {med['scratch']:.1%} "
                    f"({med['scratch_seconds']:.0f} s); runs "
                    + ", ".join(f"{r['pretrained']:.1%}/{r['scratch']:.1%}" for r in runs)
                )
    if args.json:
        print(json.dumps({"config": vars(args), "tasks": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
