"""The ``caffe`` tool's verbs as functions: ``time``, ``test``, ``train`` and the converters.

The CLI (``decaf caffe ...``) and anything else call these; each checks its arguments and
outputs before it builds a net, and returns a plain record to print or send as JSON.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from decaf.caffe import io as cio
from decaf.caffe.net import CaffeNet, from_bundle, naming, score, time_forward, to_bundle
from decaf.core import checks
from decaf.core.errors import OptionError
from decaf.core.images import writable_file


def with_batch(proto: Any, batch: int) -> Any:
    """A copy of a net's parameters with every declared input batch set to ``batch`` (Input
    layers and MemoryData), so the net is built once, at the size it will run."""
    checks.at_least("--batch", batch, 1)
    copy = type(proto)()
    copy.CopyFrom(proto)
    proto = copy
    for lp in proto.layer:
        if lp.type == "Input":
            for shape in lp.input_param.shape:
                if len(shape.dim):
                    shape.dim[0] = batch
        elif lp.type == "MemoryData":
            lp.memory_data_param.batch_size = batch
    return proto


def time_net(model: str | os.PathLike, weights: str | os.PathLike | None = None,
             iterations: int = 20, batch: int | None = None, fuse: bool = True,
             allow_python: bool = False,
             python_path: Sequence[str | os.PathLike] = ()) -> dict[str, Any]:  # fmt: skip
    """``caffe time``: the median forward pass (TEST phase, inference, random inputs)."""
    checks.at_least("--iterations", iterations, 1)
    model = Path(model)
    with naming(model):
        proto = cio.read_net(model)
        if batch is not None:
            proto = with_batch(proto, batch)
        net = CaffeNet(proto, allow_python=allow_python, base=model.parent,
                       python_path=python_path)  # fmt: skip
    if not net.inputs:
        raise OptionError(f"{model}: caffe time needs declared inputs; this net has none")
    shapes = {n: tuple(net.blob_shapes[n]) for n in net.inputs}
    if weights is not None:
        net.copy_from(weights)
    net.eval()
    if fuse:
        net.fuse()
    times = time_forward(net, {n: torch.randn(s) for n, s in shapes.items()}, iterations)
    return {"model": str(model), "inputs": {k: list(v) for k, v in shapes.items()},
            "median_ms": round(statistics.median(times) * 1000, 3),
            "min_ms": round(min(times) * 1000, 3), "iterations": iterations,
            "fused": fuse}  # fmt: skip


def test_net(model: str | os.PathLike, weights: str | os.PathLike, iterations: int = 50,
             allow_python: bool = False,
             python_path: Sequence[str | os.PathLike] = ()) -> dict[str, Any]:  # fmt: skip
    """``caffe test``: each output of a net with data layers, averaged over batches."""
    checks.at_least("--iterations", iterations, 1)
    model = Path(model)
    with naming(model):
        net = CaffeNet(cio.read_net(model), base=model.parent, allow_python=allow_python,
                       python_path=python_path)  # fmt: skip
    if net.inputs:
        raise OptionError(f"{model}: caffe test needs data layers; this net takes {net.inputs}")
    net.copy_from(weights)
    return {"scores": score(net.eval(), iterations), "iterations": iterations}


def convert_mean(src: str | os.PathLike, output: str | os.PathLike) -> dict[str, Any]:
    """binaryproto → .npy of shape (C, H, W)."""
    from decaf.data.mean import check_dest, save_mean

    check_dest(output)
    mean = cio.read_mean(src)
    save_mean(mean, output)
    return {"output": str(output), "shape": list(mean.shape)}


def convert_model(src: str | os.PathLike, output: str | os.PathLike,
                  model: str | os.PathLike | None = None) -> dict[str, Any]:  # fmt: skip
    """caffemodel + prototxt → a decaf bundle, or a bundle → caffemodel."""
    src, output = Path(src), writable_file(output, (".pt", ".caffemodel"), "model")
    if src.suffix == ".pt":
        if output.suffix != ".caffemodel":
            raise OptionError("a bundle converts to a .caffemodel")
        net = from_bundle(src)
        net.save(output)
    else:
        if model is None:
            raise OptionError("converting a caffemodel needs its prototxt (--model)")
        if output.suffix != ".pt":
            raise OptionError("a caffemodel converts to a .pt bundle")
        with naming(model):
            net = CaffeNet(cio.read_net(model))
        net.copy_from(src)
        to_bundle(net, output, Path(model).read_text())
    return {"output": str(output), "layers": len(net.order)}


def train(solver: str | os.PathLike, weights: str | os.PathLike | None = None,
          snapshot: str | os.PathLike | None = None, max_iter: int | None = None,
          allow_python: bool = False, log: Callable[[str], None] | None = None,
          minutes: float | None = None, run_dir: str | os.PathLike | None = None,
          progress: bool = False,
          python_path: Sequence[str | os.PathLike] = ()) -> dict[str, Any]:  # fmt: skip
    """``caffe train``: Caffe's solver from ``solver``, optionally from weights or a snapshot,
    on decaf's engine (``run_dir`` gets ``metrics.csv``; default ``<solver>.run/``; ``minutes``
    is a time budget). Ctrl-C or SIGTERM stops after the current iteration, with a snapshot."""
    from decaf.caffe.solver import Solver

    if weights is not None and snapshot is not None:
        raise OptionError("give --weights or --snapshot, not both (as caffe train)")
    if max_iter is not None:
        checks.at_least("--max-iter", max_iter, 0)
    if minutes is not None:
        checks.positive("--minutes", minutes)
    solver = Path(solver)
    run = Path(run_dir) if run_dir is not None else solver.with_suffix(".run")
    s = Solver(solver, log=log, allow_python=allow_python, run_dir=run, progress=progress,
               python_path=python_path)  # fmt: skip
    if max_iter is not None:
        s.param.max_iter = max_iter
        s.policy = replace(s.policy, max_iter=max_iter)  # poly/cosine schedules end there too
        s.trainer.scheduler.policy = s.policy
    if weights is not None:
        loaded = s.net.copy_from(weights)
        if log is not None:
            log(f"copied {len(loaded)} layers from {weights}")
    if snapshot is not None:
        s.restore(snapshot)
    scores = s.solve(max_seconds=minutes * 60 if minutes is not None else None)
    return {"iterations": s.iter, "scores": scores, "seconds": round(s.seconds, 2),
            "interrupted": s.interrupted, "metrics": str(run / "metrics.csv"),
            "main": s.world.is_main}  # fmt: skip
