"""``decaf caffe``: run and convert Caffe models without Caffe."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import emit
from decaf.core.errors import OptionError

caffe_app = typer.Typer(help="Caffe models without Caffe.", no_args_is_help=True)
convert_app = typer.Typer(help="Convert Caffe files.", no_args_is_help=True)
caffe_app.add_typer(convert_app, name="convert")


@caffe_app.command("time")
def time_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Net prototxt.")],
    weights: Annotated[
        Path | None, typer.Option(help="caffemodel (random fillers if absent).")
    ] = None,
    iterations: Annotated[int, typer.Option(help="Timed forward passes.")] = 20,
    batch: Annotated[int | None, typer.Option(help="Override the input batch size.")] = None,
    fuse: Annotated[bool, typer.Option(help="Fold BatchNorm/Scale into convolutions.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time forward passes, like ``caffe time`` (TEST phase, inference, random input)."""
    import torch

    from decaf.caffe import io as cio
    from decaf.caffe.net import CaffeNet

    if iterations < 1:
        raise OptionError(f"--iterations must be ≥ 1, got {iterations}")
    proto = cio.read_net(model)
    probe = CaffeNet(proto)
    shapes = {n: probe.blob_shapes[n] for n in probe.inputs}
    if batch is not None:
        shapes = {n: (batch, *s[1:]) for n, s in shapes.items()}
    net = CaffeNet(proto, input_shapes=shapes)
    if weights is not None:
        net.copy_from(weights)
    net.eval()
    if fuse:
        net.fuse()
    inputs = {n: torch.randn(s) for n, s in shapes.items()}
    times = []
    with torch.inference_mode():
        net(**inputs)  # warm-up
        for _ in range(iterations):
            t = time.perf_counter()
            net(**inputs)
            times.append(time.perf_counter() - t)
    med = statistics.median(times) * 1000
    emit(
        {"model": str(model), "inputs": {k: list(v) for k, v in shapes.items()},
         "median_ms": round(med, 3), "min_ms": round(min(times) * 1000, 3),
         "iterations": iterations, "fused": fuse},
        f"{model}: forward {med:.2f} ms median over {iterations} (min {min(times) * 1000:.2f} "
        f"ms), inputs {shapes}",
        as_json,
    )  # fmt: skip


@convert_app.command("mean")
def convert_mean_command(
    src: Annotated[Path, typer.Argument(help="A .binaryproto mean file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .npy to write.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """binaryproto → .npy of shape (C, H, W) (the 1 in front, which pycaffe chokes on, dropped)."""
    from decaf.caffe import io as cio
    from decaf.data.mean import check_dest, save_mean

    check_dest(output)
    mean = cio.read_mean(src)
    save_mean(mean, output)
    emit(
        {"output": str(output), "shape": list(mean.shape)},
        f"wrote {output}: shape {tuple(mean.shape)}",
        as_json,
    )
