"""``decaf train detector``, ``decaf eval detector`` and ``decaf detect``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import (
    BundleOpt,
    DeviceOpt,
    JsonOpt,
    ResumeOpt,
    SeedOpt,
    SnapshotOpt,
    emit,
    eval_app,
    sigterm_as_interrupt,
    split_list,
    stop_if_interrupted,
    train_app,
)


@train_app.command("detector")
def train_detector_command(
    root: Annotated[
        Path, typer.Argument(help="A VOC/ImageNet layout or a COCO folder (instances_*.json).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle to write (.pt).")],
    fmt: Annotated[str, typer.Option("--format", help="voc, imagenet or coco.")] = "voc",
    split: Annotated[str, typer.Option(help="The split to train on.")] = "train",
    backbone: Annotated[str, typer.Option(help="Zoo network for the FPN backbone.")] = (
        "efficientnet_lite0"
    ),
    iters: Annotated[int, typer.Option(help="Updates.")] = 500,
    epochs: Annotated[
        float | None, typer.Option(help="Passes over the training split (instead of --iters).")
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help="A time budget (instead of --iters), from a timed step.")
    ] = None,
    batch: Annotated[int, typer.Option(help="Pictures per update.")] = 4,
    base_lr: Annotated[float, typer.Option(help="Learning rate after warm-up.")] = 0.01,
    masks: Annotated[bool, typer.Option(help="Mask R-CNN (needs SegmentationObject/).")] = False,
    roi: Annotated[str, typer.Option(help="align (RoIAlign) or pool (RoIPool).")] = "align",
    min_size: Annotated[int, typer.Option(help="Resize the short side to this.")] = 256,
    max_size: Annotated[int, typer.Option(help="…and the long side to at most this.")] = 512,
    anchor_sizes: Annotated[
        str, typer.Option(help="Anchor side per pyramid level (4 levels), in pixels.")
    ] = "16,32,64,128",
    aspect_ratios: Annotated[str, typer.Option(help="Anchor height/width ratios.")] = "0.5,1,2",
    scratch: Annotated[bool, typer.Option(help="Random backbone weights.")] = False,
    ohem: Annotated[bool, typer.Option(help="Online hard example mining in the RoI head.")] = False,
    ohem_batch: Annotated[int, typer.Option(help="Hardest RoIs kept per image (OHEM).")] = 128,
    proposals: Annotated[
        str | None,
        typer.Option(help="Fast R-CNN: selective-search or a proposals file (.npz/.json)."),
    ] = None,
    seed: SeedOpt = 0,
    snapshot: SnapshotOpt = 0,
    resume: ResumeOpt = None,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Train Faster R-CNN (or Mask R-CNN) on a VOC, ImageNet-DET or COCO dataset.

    Examples:

      decaf train detector shapes/ -o det.pt --minutes 11 --min-size 192 --max-size 256

      decaf train detector coco/ --format coco --masks -o mask.pt
    """
    from decaf.detect.train import DetectorOptions, train_detector

    sizes = tuple(split_list(anchor_sizes, int, "--anchor-sizes") or ())
    ratios = tuple(split_list(aspect_ratios, float, "--aspect-ratios") or ())
    options = DetectorOptions(
        backbone=backbone, iters=iters, batch=batch, base_lr=base_lr, masks=masks, roi=roi,
        min_size=min_size, max_size=max_size, scratch=scratch, seed=seed,
        snapshot_interval=snapshot, ohem=ohem, ohem_batch=ohem_batch, epochs=epochs,
        minutes=minutes, proposals=proposals, anchor_sizes=sizes, aspect_ratios=ratios,
        device=device,
    )  # fmt: skip
    with sigterm_as_interrupt():
        summary = train_detector(root, output, options, split, fmt, resume=resume,
                                 progress=not as_json)  # fmt: skip
    stop_if_interrupted(summary, as_json)
    dropped = ""
    if summary["dropped_boxes"]:
        dropped = (f"; {summary['dropped_boxes']} empty or inverted boxes left out (e.g. "
                   f"{summary['dropped_examples'][0]})")  # fmt: skip
    emit(summary, f"wrote {output} after {summary['iterations']} iterations "
         f"({summary['seconds']:.0f} s) on {summary['boxes']} boxes{dropped}", as_json)  # fmt: skip


@eval_app.command("detector")
def eval_detector_command(
    bundle: Annotated[Path, typer.Argument(help="A detector bundle (.pt).")],
    root: Annotated[Path, typer.Argument(help="A VOC/ImageNet layout or a COCO folder.")],
    fmt: Annotated[str, typer.Option("--format", help="voc, imagenet or coco.")] = "voc",
    split: Annotated[str, typer.Option(help="The split to evaluate.")] = "val",
    proposals: Annotated[
        str | None,
        typer.Option(help="Fast R-CNN bundles: a proposals file (else selective search)."),
    ] = None,
    area: Annotated[bool, typer.Option(help="VOC2010+ area AP instead of VOC07 11-point.")] = False,
    coco: Annotated[
        bool, typer.Option(help="Also COCO AP@[.5:.95], AP50, AP75 (needs pycocotools).")
    ] = False,
    device: DeviceOpt = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (key mAP50).")] = False,
) -> None:
    """VOC AP per class and mAP@0.5 of a detector on a split.

    Example:

      decaf eval detector det.pt shapes/ --json
    """
    from decaf.detect.evaluate import evaluate_split

    report = evaluate_split(bundle, root, split, fmt, proposals, voc07=not area, coco=coco,
                            device=device)  # fmt: skip
    lines = [f"mAP@0.5 {report['mAP50']:.4f} ({report['metric']})"]
    if coco:
        lines.append("COCO AP {AP:.4f}  AP50 {AP50:.4f}  AP75 {AP75:.4f}".format(**report["coco"]))
    lines += [f"  {k}: {v['ap']:.4f}" for k, v in report["per_class"].items()]
    emit(report, "\n".join(lines), as_json)


def detect_command(
    target: Annotated[Path, typer.Argument(help="A picture or a folder of pictures.")],
    model: BundleOpt,
    score_threshold: Annotated[float, typer.Option(help="Drop weaker detections (0..1).")] = 0.5,
    draw: Annotated[
        Path | None, typer.Option(help="Write the picture with boxes (one input only).")
    ] = None,
    proposals: Annotated[
        str | None,
        typer.Option(help="Fast R-CNN bundles: a proposals file keyed by file stem."),
    ] = None,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Boxes, labels and scores (and mask areas, for Mask R-CNN) for each picture.

    Examples:

      decaf detect photo.png -m det.pt --draw boxes.png

      decaf detect photos/ -m det.pt --score-threshold 0.3 --json
    """
    from decaf.detect.predict import detect_files

    found = detect_files(target, model, score_threshold, draw, proposals, device)
    emit({"results": [d.to_json() for d in found]}, "\n".join(d.summary() for d in found),
         as_json)  # fmt: skip
