"""``decaf classify``, ``decaf train classifier`` and ``decaf eval classifier``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import (
    BadFileOpt,
    DeviceOpt,
    JsonOpt,
    ResumeOpt,
    SeedOpt,
    SnapshotOpt,
    console,
    count_progress,
    emit,
    eval_app,
    sigterm_as_interrupt,
    stop_if_interrupted,
    train_app,
)

DEFAULT_ZOO = "efficientnet_lite0"


def classify_command(
    target: Annotated[Path, typer.Argument(help="A picture or a folder of pictures.")],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="A classifier bundle (.pt).")
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option("--backbone", help=f"An ImageNet zoo network (default {DEFAULT_ZOO})."),
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Weights file for the --backbone network.")
    ] = None,
    top: Annotated[int, typer.Option(help="How many classes to list per picture.")] = 5,
    oversample: Annotated[
        bool, typer.Option(help="Average 10 crops (corners, centre, mirrors) like Caffe.")
    ] = False,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Top-k classes for each picture: ImageNet out of the box, or your fine-tuned bundle.

    Examples:

      decaf classify photo.jpg

      decaf classify photos/ --oversample --json

      decaf classify photo.jpg -m styles.pt --top 3
    """
    from decaf.classify.predict import classify

    results = classify(target, model, backbone, weights, top, oversample, device)
    emit({"results": [r.to_json() for r in results]},
         "\n".join(r.summary() for r in results), as_json)  # fmt: skip


@train_app.command("classifier")
def train_classifier_command(
    train: Annotated[str, typer.Argument(help="Folder of class folders, or a Caffe list file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle to write (.pt).")],
    val: Annotated[
        str | None, typer.Option(help="Validation folder or list (default: a 20 % split).")
    ] = None,
    backbone: Annotated[str, typer.Option(help="Zoo network to start from.")] = DEFAULT_ZOO,
    epochs: Annotated[float | None, typer.Option(help="Passes over the data (default 10).")] = None,
    iters: Annotated[int | None, typer.Option(help="Updates, instead of --epochs.")] = None,
    batch: Annotated[int, typer.Option(help="Pictures per update.")] = 32,
    base_lr: Annotated[float, typer.Option(help="Learning rate of the backbone.")] = 0.01,
    head_lr_mult: Annotated[float, typer.Option(help="Head learning-rate multiplier.")] = 10.0,
    policy: Annotated[
        str, typer.Option(help="fixed, step, multistep, exp, inv, poly, sigmoid or cosine.")
    ] = "step",
    stepsize: Annotated[
        int | None, typer.Option(help="Step period (default 60 % of the run).")
    ] = None,
    gamma: Annotated[float, typer.Option(help="Step/exp/inv policy factor.")] = 0.1,
    solver: Annotated[
        str, typer.Option(help="sgd, nesterov, adam, adamw, rmsprop or adagrad.")
    ] = "sgd",
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay (weights only).")] = 5e-4,
    freeze: Annotated[
        int | None, typer.Option(help="Freeze the stem + first K stages; -1 = whole backbone.")
    ] = None,
    scratch: Annotated[bool, typer.Option(help="Random initial weights (for comparison).")] = False,
    weights: Annotated[Path | None, typer.Option(help="Backbone weights file.")] = None,
    size: Annotated[int | None, typer.Option(help="Input size (default: the backbone's).")] = None,
    iter_size: Annotated[int, typer.Option(help="Batches accumulated per update.")] = 1,
    clip_gradients: Annotated[float | None, typer.Option(help="Max gradient L2 norm.")] = None,
    label_smoothing: Annotated[float, typer.Option(help="Cross-entropy smoothing.")] = 0.0,
    workers: Annotated[
        int | None, typer.Option(help="Data loading processes (default: 0 on ≤ 2 cores).")
    ] = None,
    seed: SeedOpt = 0,
    test_interval: Annotated[int, typer.Option(help="Validate every N updates (0: at end).")] = 0,
    snapshot: SnapshotOpt = 0,
    run_dir: Annotated[
        Path | None, typer.Option(help="Snapshots, metrics (default OUTPUT.run).")
    ] = None,
    resume: ResumeOpt = None,
    on_bad_file: BadFileOpt = "skip",
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune a zoo network on your classes (Caffe's Flickr-Style recipe).

    Examples:

      decaf train classifier styles/train.txt --val styles/val.txt --epochs 3 -o styles.pt

      decaf train classifier paintings/ --freeze -1 --iters 200 -o paintings.pt
    """
    from decaf.classify import FinetuneOptions, finetune

    options = FinetuneOptions(
        backbone=backbone, epochs=epochs, iters=iters, batch=batch, base_lr=base_lr,
        head_lr_mult=head_lr_mult, solver=solver, weight_decay=weight_decay, policy=policy,
        gamma=gamma, stepsize=stepsize, freeze=freeze, scratch=scratch,
        weights=str(weights) if weights else None, size=size, label_smoothing=label_smoothing,
        workers=workers, seed=seed, test_interval=test_interval, snapshot_interval=snapshot,
        clip_gradients=clip_gradients, iter_size=iter_size, device=device,
        on_bad_file=on_bad_file,
    )  # fmt: skip
    with sigterm_as_interrupt():
        summary = finetune(
            train, val, output, options, run_dir=run_dir, resume=resume,
            progress=not as_json, log=None if as_json else console.print,
        )  # fmt: skip
    if summary["rank"] != 0:
        return  # under torchrun, rank 0 reports for everyone
    stop_if_interrupted(summary, as_json)
    v = summary["val"]
    emit(summary, f"wrote {output}: val top-1 {v.get('top1', float('nan')):.3f}, "
         f"top-5 {v.get('top5', float('nan')):.3f} after {summary['iterations']} iterations "
         f"({summary['seconds']:.0f} s, {summary['images_per_second']:.1f} images/s)",
         as_json)  # fmt: skip


@eval_app.command("classifier")
def eval_classifier_command(
    bundle: Annotated[Path, typer.Argument(help="A classifier bundle (.pt).")],
    data: Annotated[str, typer.Argument(help="Folder of class folders, or a Caffe list file.")],
    oversample: Annotated[bool, typer.Option(help="Average 10 crops per picture.")] = False,
    confusion: Annotated[
        Path | None, typer.Option(help="Write the confusion matrix as a picture (PNG).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Pictures per forward pass.")] = 32,
    workers: Annotated[
        int | None, typer.Option(help="Data loading processes (default: 0 on ≤ 2 cores).")
    ] = None,
    on_bad_file: BadFileOpt = "skip",
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Top-1, top-5 and per-class accuracy of a bundle on labelled pictures.

    Example:

      decaf eval classifier styles.pt styles/val.txt --confusion confusion.png --json
    """
    from decaf.classify.predict import evaluate_files

    with count_progress("eval", not as_json) as update:
        report, summary = evaluate_files(bundle, data, batch, oversample, workers, confusion,
                                         device=device, progress=update,
                                         on_bad_file=on_bad_file)  # fmt: skip
    per = "\n".join(
        f"  {name}: {acc:.3f}" if acc is not None else f"  {name}: (no images)"
        for name, acc in report["per_class"].items()
    )
    emit(report, f"{summary}\ntop-1 {report['top1']:.4f}  top-5 {report['top5']:.4f}\n{per}",
         as_json)  # fmt: skip
