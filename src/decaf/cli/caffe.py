"""``decaf caffe``: run and convert Caffe models without Caffe."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import emit
from decaf.core.errors import OptionError

AllowPython = Annotated[
    bool, typer.Option(help="Build Python layers (they run code from the prototxt's modules).")
]
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
    allow_python_layers: AllowPython = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Time forward passes, like ``caffe time`` (TEST phase, inference, random input)."""
    import torch

    from decaf.caffe import io as cio
    from decaf.caffe.net import CaffeNet, time_forward

    if iterations < 1:
        raise OptionError(f"--iterations must be ≥ 1, got {iterations}")
    proto = cio.read_net(model)
    probe = CaffeNet(proto, allow_python=allow_python_layers, base=model.parent)
    shapes = {n: probe.blob_shapes[n] for n in probe.inputs}
    if batch is not None:
        shapes = {n: (batch, *s[1:]) for n, s in shapes.items()}
    net = CaffeNet(proto, input_shapes=shapes, allow_python=allow_python_layers, base=model.parent)
    if weights is not None:
        net.copy_from(weights)
    net.eval()
    if fuse:
        net.fuse()
    inputs = {n: torch.randn(s) for n, s in shapes.items()}
    times = time_forward(net, inputs, iterations)
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


@caffe_app.command("train")
def train_command(
    solver: Annotated[Path, typer.Option("--solver", "-s", help="solver.prototxt")],
    weights: Annotated[
        Path | None, typer.Option(help="caffemodel to start from (layers matched by name).")
    ] = None,
    snapshot: Annotated[Path | None, typer.Option(help=".solverstate to continue from.")] = None,
    max_iter: Annotated[int | None, typer.Option(help="Override the solver's max_iter.")] = None,
    allow_python_layers: AllowPython = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the final scores as JSON.")
    ] = False,
) -> None:
    """Train like ``caffe train``: Caffe's solvers and schedules, snapshots, test nets."""
    import signal

    from decaf.caffe.solver import Solver
    from decaf.cli.common import console

    if weights is not None and snapshot is not None:
        raise OptionError("give --weights or --snapshot, not both (as caffe train)")
    s = Solver(solver, log=None if as_json else console.print, allow_python=allow_python_layers)
    if max_iter is not None:
        if max_iter < 0:
            raise OptionError(f"--max-iter must be ≥ 0, got {max_iter}")
        s.param.max_iter = max_iter
    if weights is not None:
        loaded = s.net.copy_from(weights)
        if not as_json:
            console.print(f"copied {len(loaded)} layers from {weights}")
    if snapshot is not None:
        s.restore(snapshot)
    stop = {"now": False}

    def request(_signum: int, _frame: object) -> None:
        stop["now"] = True

    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        scores = s.solve(should_stop=lambda: stop["now"])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not s.world.is_main:
        return  # under torchrun, rank 0 reports
    payload = {"iterations": s.iter, "scores": scores, "seconds": round(s.seconds, 2),
               "interrupted": stop["now"]}  # fmt: skip
    emit(payload, f"stopped at iteration {s.iter}: {scores}" if stop["now"] else
         f"finished {s.iter} iterations in {s.seconds:.1f} s: {scores}", as_json)  # fmt: skip
    if stop["now"]:
        raise typer.Exit(130)


@caffe_app.command("test")
def test_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Net prototxt (TEST phase).")],
    weights: Annotated[Path, typer.Option(help="caffemodel.")],
    iterations: Annotated[int, typer.Option(help="Batches to average over.")] = 50,
    allow_python_layers: AllowPython = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score a trained net like ``caffe test``: each output averaged over N batches."""
    from decaf.caffe import io as cio
    from decaf.caffe.net import CaffeNet, score

    if iterations < 1:
        raise OptionError(f"--iterations must be ≥ 1, got {iterations}")
    net = CaffeNet(cio.read_net(model), base=model.parent, allow_python=allow_python_layers)
    if net.inputs:
        raise OptionError(f"{model}: caffe test needs data layers; this net takes {net.inputs}")
    net.copy_from(weights)
    scores = score(net.eval(), iterations)
    emit({"scores": scores, "iterations": iterations},
         "\n".join(f"{k} = {v:.5g}" for k, v in scores.items()), as_json)  # fmt: skip


@convert_app.command("model")
def convert_model_command(
    src: Annotated[Path, typer.Argument(help="A .caffemodel, or a decaf bundle (.pt).")],
    output: Annotated[Path, typer.Option("--output", "-o", help=".pt bundle or .caffemodel.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="The net prototxt (caffemodel → bundle).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """caffemodel + prototxt → one decaf bundle, or a bundle → caffemodel (Caffe/OpenCV read it)."""
    from decaf.caffe import io as cio
    from decaf.caffe.net import CaffeNet, from_bundle, to_bundle

    if output.suffix not in (".pt", ".caffemodel"):
        raise OptionError(f"{output}: write a .pt bundle or a .caffemodel")
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
        net = CaffeNet(cio.read_net(model))
        net.copy_from(src)
        to_bundle(net, output, model.read_text())
    emit({"output": str(output), "layers": len(net.order)},
         f"wrote {output} ({len(net.order)} layers)", as_json)  # fmt: skip
