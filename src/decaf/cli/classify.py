"""``decaf classify``, ``decaf train classifier`` and ``decaf eval classifier``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from decaf.cli.common import (
    console,
    count_progress,
    emit,
    sigterm_as_interrupt,
    stop_if_interrupted,
)
from decaf.core.errors import OptionError

train_app = typer.Typer(help="Train models on the shared engine.", no_args_is_help=True)
eval_app = typer.Typer(help="Measure trained models.", no_args_is_help=True)

DEFAULT_ZOO = "efficientnet_lite0"


def image_paths(target: Path) -> list[Path]:
    from decaf.data.folders import IMAGE_EXTENSIONS

    if target.is_dir():
        found = sorted(
            p
            for p in target.rglob("*")
            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
        )
        if not found:
            raise OptionError(f"{target}: no pictures in this folder")
        return found
    if not target.exists():
        raise OptionError(f"{target}: no such file or folder")
    return [target]


def _classifier(model: str | None, zoo: str | None, weights: Path | None) -> Any:
    from decaf.classify.predict import Classifier

    if model is not None and zoo is not None:
        raise OptionError("give --model BUNDLE or --zoo NAME, not both")
    if model is not None:
        if weights is not None:
            raise OptionError("--weights goes with --zoo; a bundle holds its own weights")
        return Classifier.from_bundle(model)
    return Classifier.from_zoo(zoo or DEFAULT_ZOO, weights)


def classify_command(
    target: Annotated[Path, typer.Argument(help="A picture or a folder of pictures.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="A classifier bundle (.pt).")
    ] = None,
    zoo: Annotated[
        str | None, typer.Option(help=f"An ImageNet zoo network (default {DEFAULT_ZOO}).")
    ] = None,
    weights: Annotated[
        Path | None, typer.Option(help="Weights file for the --zoo network.")
    ] = None,
    top: Annotated[int, typer.Option(help="How many classes to list per picture.")] = 5,
    oversample: Annotated[
        bool, typer.Option(help="Average 10 crops (corners, centre, mirrors) like Caffe.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Top-k classes for each picture: ImageNet out of the box, or your fine-tuned bundle."""
    from decaf.core.images import load_image

    if top < 1:
        raise OptionError(f"--top must be ≥ 1, got {top}")
    paths = image_paths(target)
    for p in paths:  # every input checked before the network loads
        load_image(p)
    clf = _classifier(model, zoo, weights)
    results = []
    lines = []
    for start in range(0, len(paths), 16):
        chunk = paths[start : start + 16]
        for path, preds in zip(chunk, clf.predict(chunk, top, oversample), strict=True):
            results.append(
                {
                    "image": str(path),
                    "top": [{"index": p.index, "label": p.label, "score": p.score} for p in preds],
                }
            )
            shown = ", ".join(f"{p.label} {p.score:.3f}" for p in preds)
            lines.append(f"{path}: {shown}")
    emit({"results": results}, "\n".join(lines), as_json)


@train_app.command("classifier")
def train_classifier_command(
    train: Annotated[str, typer.Argument(help="Folder of class folders, or a Caffe list file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle to write (.pt).")],
    val: Annotated[
        str | None, typer.Option(help="Validation folder or list (default: 20 %% split).")
    ] = None,
    backbone: Annotated[str, typer.Option(help="Zoo network to start from.")] = DEFAULT_ZOO,
    epochs: Annotated[float | None, typer.Option(help="Passes over the data (default 10).")] = None,
    iters: Annotated[int | None, typer.Option(help="Updates, instead of --epochs.")] = None,
    batch: Annotated[int, typer.Option(help="Pictures per update.")] = 32,
    base_lr: Annotated[float, typer.Option(help="Learning rate of the backbone.")] = 0.01,
    head_lr_mult: Annotated[float, typer.Option(help="Head learning-rate multiplier.")] = 10.0,
    policy: Annotated[
        str, typer.Option(help="fixed|step|multistep|exp|inv|poly|sigmoid|cosine")
    ] = "step",
    stepsize: Annotated[
        int | None, typer.Option(help="Step period (default 60 %% of the run).")
    ] = None,
    gamma: Annotated[float, typer.Option(help="Step/exp/inv policy factor.")] = 0.1,
    solver: Annotated[str, typer.Option(help="sgd|nesterov|adam|adamw|rmsprop|adagrad")] = "sgd",
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
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    test_interval: Annotated[int, typer.Option(help="Validate every N updates (0: at end).")] = 0,
    snapshot: Annotated[int, typer.Option(help="Snapshot every N updates (0: when stopped).")] = 0,
    run_dir: Annotated[
        Path | None, typer.Option(help="Snapshots, metrics (default OUTPUT.run).")
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Snapshot or run folder to continue.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Fine-tune a zoo network on your classes (Caffe's Flickr-Style recipe)."""
    from decaf.classify.finetune import FinetuneOptions, finetune

    if output.suffix != ".pt":
        raise OptionError(f"{output}: a bundle is a .pt file")
    if not output.parent.is_dir():
        raise OptionError(f"{output}: the folder {output.parent} does not exist")
    options = FinetuneOptions(
        backbone=backbone, epochs=epochs, iters=iters, batch=batch, base_lr=base_lr,
        head_lr_mult=head_lr_mult, solver=solver, weight_decay=weight_decay, policy=policy,
        gamma=gamma, stepsize=stepsize, freeze=freeze, scratch=scratch,
        weights=str(weights) if weights else None, size=size, label_smoothing=label_smoothing,
        workers=workers, seed=seed, test_interval=test_interval, snapshot_interval=snapshot,
        clip_gradients=clip_gradients, iter_size=iter_size,
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
    emit(
        summary,
        f"wrote {output}: val top-1 {v.get('top1', float('nan')):.3f}, "
        f"top-5 {v.get('top5', float('nan')):.3f} after {summary['iterations']} iterations "
        f"({summary['seconds']:.0f} s, {summary['images_per_second']:.1f} images/s)",
        as_json,
    )


def _align_classes(images: Any, classes: list[str]) -> None:
    """Make ``images``' labels index ``classes`` (by name; digits mean indices already)."""
    if images.classes == classes:
        return
    if all(c.isdigit() for c in images.classes) and len(images.classes) <= len(classes):
        images.classes = list(classes)  # a list file without classes.txt
        return
    unknown = sorted(set(images.classes) - set(classes))
    if unknown:
        raise OptionError(
            f"{images.source}: classes {unknown[:5]} are not among the model's "
            f"({', '.join(classes)})"
        )
    where = {name: i for i, name in enumerate(classes)}
    images.samples = [(p, where[images.classes[label]]) for p, label in images.samples]
    images.classes = list(classes)


@eval_app.command("classifier")
def eval_classifier_command(
    bundle: Annotated[str, typer.Argument(help="A classifier bundle (.pt).")],
    data: Annotated[str, typer.Argument(help="Folder of class folders, or a Caffe list file.")],
    oversample: Annotated[bool, typer.Option(help="Average 10 crops per picture.")] = False,
    confusion: Annotated[
        Path | None, typer.Option(help="Write the confusion matrix as a picture (PNG).")
    ] = None,
    batch: Annotated[int, typer.Option(help="Pictures per forward pass.")] = 32,
    workers: Annotated[
        int | None, typer.Option(help="Data loading processes (default: 0 on ≤ 2 cores).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Top-1, top-5 and per-class accuracy of a bundle on labelled pictures."""
    from decaf.classify.predict import Classifier, confusion_png, evaluate
    from decaf.core.images import image_format_for
    from decaf.data.folders import auto_workers, scan

    if confusion is not None:
        image_format_for(confusion)
    images = scan(data)
    clf = Classifier.from_bundle(bundle)
    workers = auto_workers() if workers is None else workers
    _align_classes(images, clf.classes)
    with count_progress("eval", not as_json) as update:
        report = evaluate(clf, images, batch, oversample, workers, progress=update)
    if confusion is not None:
        confusion_png(report["confusion"], report["classes"], confusion)
        report["confusion_png"] = str(confusion)
    report["skipped"] = [str(p) for p, _ in images.skipped]
    per = "\n".join(
        f"  {name}: {acc:.3f}" if acc is not None else f"  {name}: (no images)"
        for name, acc in report["per_class"].items()
    )
    emit(
        report,
        f"{images.summary()}\ntop-1 {report['top1']:.4f}  top-5 {report['top5']:.4f}\n{per}",
        as_json,
    )
