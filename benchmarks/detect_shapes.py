"""Benchmark: Faster R-CNN on synthetic shapes, with and without OHEM, in a fixed time budget.

Matterport's Mask R-CNN shapes demo reports mAP@0.5 0.95 on 10 validation pictures, from a
COCO-pretrained ResNet-101 on a GPU. Here: ``--train`` pictures (128–256 px) of squares, circles
and triangles from ``decaf data synth shapes``, an ImageNet-pretrained EfficientNet-Lite0 + FPN,
``--minutes`` of training per variant on this machine's CPUs, then VOC07 11-point mAP@0.5 on
``--val`` held-out pictures and the median inference time per picture.

Variants (``--variants``):

* ``plain`` — decaf's CPU-sized heads (128-channel FPN, 512-wide box head, 128 RoIs per picture);
* ``ohem`` — the same with online hard example mining (hardest 64 of all RoIs, NMS 0.7);
* ``torchvision-heads`` — the same backbone with torchvision's COCO-sized heads (256-channel FPN,
  1024-wide box head, 512 RoIs, 2000 proposals): the peer configuration, for the ratio.

    python benchmarks/detect_shapes.py [--minutes 7] [--train 500] [--val 200]
                                       [--variants plain,ohem] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from decaf.data.synthetic import shapes
from decaf.detect.data import DetectionDataset
from decaf.detect.evaluate import detect_split, evaluate
from decaf.detect.predict import Detector
from decaf.detect.train import DetectorOptions, train_detector

VARIANTS = {
    "plain": {},
    "ohem": {"ohem": True, "ohem_batch": 64},
    "torchvision-heads": {"fpn_channels": 256, "head_width": 1024, "rois_per_image": 512},
}


def inference_ms(det: Detector, root: Path, n: int) -> float:
    """Median milliseconds per picture over ``n`` validation pictures (after one warm-up)."""
    data = DetectionDataset(root, "val", classes=det.classes)
    times = []
    for i in range(min(n, len(data)) + 1):
        img, _ = data[i % len(data)]
        start = time.perf_counter()
        det.predict([img])
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=7.0, help="training budget per variant")
    ap.add_argument("--train", type=int, default=500)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--variants", default="plain,ohem")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=160, help="short side the detector resizes to")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        ap.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(torch.get_num_threads())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shapes"
        shapes(root, args.train + args.val, args.val, (128, 256), seed=args.seed)
        for name in names:
            opts = DetectorOptions(minutes=args.minutes, batch=args.batch, min_size=args.size,
                                   max_size=256, seed=args.seed, display=50,
                                   **VARIANTS[name])  # fmt: skip
            bundle = Path(tmp) / f"{name}.pt"
            summary = train_detector(root, bundle, opts, run_dir=Path(tmp) / f"{name}.run",
                                     progress=not args.json)  # fmt: skip
            det = Detector(bundle)
            dets, truths = detect_split(det, root, "val")
            voc07 = evaluate(dets, truths, det.classes, 0.5, voc07=True)
            area = evaluate(dets, truths, det.classes, 0.5, voc07=False)
            rows.append({
                "variant": name, "iterations": summary["iterations"],
                "time_up": summary["time_up"],
                "train_seconds": summary["seconds"], "mAP50_voc07": round(voc07["mAP50"], 4),
                "mAP50_area": round(area["mAP50"], 4),
                "per_class": {k: round(v["ap"], 4) for k, v in voc07["per_class"].items()},
                "inference_ms": round(inference_ms(det, root, 50), 1),
            })  # fmt: skip
            print(f"{name}: {rows[-1]}", file=sys.stderr)
    if args.json:
        print(json.dumps({"minutes": args.minutes, "train": args.train, "val": args.val,
                          "rows": rows}, indent=2))  # fmt: skip
        return 0
    print(f"\n{args.train} train / {args.val} val pictures, {args.minutes} min per variant, "
          f"batch {args.batch}, short side {args.size}")  # fmt: skip
    print(f"{'variant':<18} {'iters':>6} {'train s':>8} {'mAP50 07':>9} {'mAP50 area':>10} "
          f"{'infer ms':>9}")  # fmt: skip
    for r in rows:
        print(
            f"{r['variant']:<18} {r['iterations']:>6} {r['train_seconds']:>8.0f} "
            f"{r['mAP50_voc07']:>9.4f} {r['mAP50_area']:>10.4f} {r['inference_ms']:>9.1f}"
        )
    base = next((r for r in rows if r["variant"] == "plain"), None)
    for r in rows:
        if base and r is not base:
            print(
                f"{r['variant']} / plain: mAP {r['mAP50_voc07'] / base['mAP50_voc07']:.3f}, "
                f"inference {r['inference_ms'] / base['inference_ms']:.2f}×"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
