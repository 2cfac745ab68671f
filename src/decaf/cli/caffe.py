"""``decaf caffe``: run and convert Caffe models without Caffe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import JsonOpt, emit, group

AllowPython = Annotated[
    bool, typer.Option(help="Build Python layers (they run code from the prototxt's modules).")
]
PythonPath = Annotated[
    list[Path] | None,
    typer.Option("--python-path", help="A folder Python layer modules are imported from "
                 "(repeatable), like py-faster-rcnn's lib/."),
]  # fmt: skip
caffe_app = group("Caffe models without Caffe.")
convert_app = group("Convert Caffe files.")
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
    python_path: PythonPath = None,
    as_json: JsonOpt = False,
) -> None:
    """Time forward passes, like ``caffe time`` (TEST phase, inference, random input).

    Example:

      decaf caffe time -m deploy.prototxt --weights w.caffemodel --batch 8
    """
    from decaf.caffe.tools import time_net

    r = time_net(model, weights, iterations, batch, fuse, allow_python_layers, python_path or ())
    emit(r, f"{model}: forward {r['median_ms']:.2f} ms median over {iterations} (min "
         f"{r['min_ms']:.2f} ms), inputs {r['inputs']}", as_json)  # fmt: skip


@convert_app.command("mean")
def convert_mean_command(
    src: Annotated[Path, typer.Argument(help="A .binaryproto mean file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The .npy to write.")],
    as_json: JsonOpt = False,
) -> None:
    """binaryproto → .npy of shape (C, H, W) (the 1 in front, which pycaffe chokes on, dropped).

    Example:

      decaf caffe convert mean imagenet_mean.binaryproto -o mean.npy
    """
    from decaf.caffe.tools import convert_mean

    r = convert_mean(src, output)
    emit(r, f"wrote {output}: shape {tuple(r['shape'])}", as_json)


@caffe_app.command("train")
def train_command(
    solver: Annotated[Path, typer.Option("--solver", help="solver.prototxt")],
    weights: Annotated[
        Path | None, typer.Option(help="caffemodel to start from (layers matched by name).")
    ] = None,
    snapshot: Annotated[Path | None, typer.Option(help=".solverstate to continue from.")] = None,
    max_iter: Annotated[int | None, typer.Option(help="Override the solver's max_iter.")] = None,
    minutes: Annotated[
        float | None, typer.Option(help="A time budget: stop (with a snapshot) after it.")
    ] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Where metrics.csv goes (default: SOLVER.run/).")
    ] = None,
    allow_python_layers: AllowPython = False,
    python_path: PythonPath = None,
    as_json: JsonOpt = False,
) -> None:
    """Train like ``caffe train``: Caffe's solvers and schedules, snapshots, test nets, on
    decaf's engine (progress bar, metrics.csv, --minutes). Ctrl-C or kill stops after the
    current iteration and writes a snapshot.

    Example:

      decaf caffe train --solver lenet_solver.prototxt
    """
    from decaf.caffe.tools import train
    from decaf.cli.common import console

    log = None if as_json else console.print
    r = train(solver, weights, snapshot, max_iter, allow_python_layers, log, minutes, run_dir,
              progress=not as_json, python_path=python_path or ())  # fmt: skip
    if not r.pop("main"):
        return  # under torchrun, rank 0 reports
    emit(r, f"stopped at iteration {r['iterations']}: {r['scores']}" if r["interrupted"] else
         f"finished {r['iterations']} iterations in {r['seconds']:.1f} s: {r['scores']}",
         as_json)  # fmt: skip
    if r["interrupted"]:
        raise typer.Exit(130)


@caffe_app.command("test")
def test_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Net prototxt (TEST phase).")],
    weights: Annotated[Path, typer.Option(help="caffemodel.")],
    iterations: Annotated[int, typer.Option(help="Batches to average over.")] = 50,
    allow_python_layers: AllowPython = False,
    python_path: PythonPath = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a trained net like ``caffe test``: each output averaged over N batches.

    Example:

      decaf caffe test -m lenet_train_test.prototxt --weights lenet_iter_1000.caffemodel
    """
    from decaf.caffe.tools import test_net

    r = test_net(model, weights, iterations, allow_python_layers, python_path or ())
    emit(r, "\n".join(f"{k} = {v:.5g}" for k, v in r["scores"].items()), as_json)


@convert_app.command("model")
def convert_model_command(
    src: Annotated[Path, typer.Argument(help="A .caffemodel, or a decaf bundle (.pt).")],
    output: Annotated[Path, typer.Option("--output", "-o", help=".pt bundle or .caffemodel.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="The net prototxt (caffemodel → bundle).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """caffemodel + prototxt → one decaf bundle, or a bundle → caffemodel (Caffe/OpenCV read it).

    Example:

      decaf caffe convert model w.caffemodel -m deploy.prototxt -o w.pt
    """
    from decaf.caffe.tools import convert_model

    r = convert_model(src, output, model)
    emit(r, f"wrote {output} ({r['layers']} layers)", as_json)
