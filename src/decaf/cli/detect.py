"""``decaf train detector``, ``decaf eval detector`` and ``decaf detect``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.classify import eval_app, image_paths, train_app
from decaf.cli.common import emit, sigterm_as_interrupt, split_list, stop_if_interrupted
from decaf.core.errors import OptionError


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
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    snapshot: Annotated[int, typer.Option(help="Snapshot every N updates.")] = 0,
    resume: Annotated[Path | None, typer.Option(help="Snapshot or run folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train Faster R-CNN (or Mask R-CNN) on a VOC-layout dataset."""
    from decaf.detect.train import DetectorOptions, train_detector

    if fmt not in ("voc", "imagenet", "coco"):
        raise OptionError(f"--format must be voc, imagenet or coco, got {fmt!r}")
    if output.suffix != ".pt":
        raise OptionError(f"{output}: a bundle is a .pt file")
    if epochs is not None and minutes is not None:
        raise OptionError("give --epochs or --minutes, not both")
    if (epochs is not None and epochs <= 0) or (minutes is not None and minutes <= 0):
        raise OptionError("--epochs and --minutes must be positive")
    sizes = tuple(split_list(anchor_sizes, int, "--anchor-sizes") or ())
    ratios = tuple(split_list(aspect_ratios, float, "--aspect-ratios") or ())
    if any(v <= 0 for v in (*sizes, *ratios)) or not ratios:
        raise OptionError("anchor sizes and aspect ratios must be positive")
    options = DetectorOptions(
        backbone=backbone, iters=iters, batch=batch, base_lr=base_lr, masks=masks, roi=roi,
        min_size=min_size, max_size=max_size, scratch=scratch, seed=seed,
        snapshot_interval=snapshot, ohem=ohem, ohem_batch=ohem_batch, epochs=epochs,
        minutes=minutes, proposals=proposals, anchor_sizes=sizes, aspect_ratios=ratios,
    )  # fmt: skip
    with sigterm_as_interrupt():
        summary = train_detector(root, output, options, split, fmt, resume=resume,
                                 progress=not as_json)  # fmt: skip
    stop_if_interrupted(summary, as_json)
    emit(summary, f"wrote {output} after {summary['iterations']} iterations "
         f"({summary['seconds']:.0f} s)", as_json)  # fmt: skip


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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (key mAP50).")] = False,
) -> None:
    """VOC AP per class and mAP@0.5 of a detector on a split."""
    from decaf.detect.evaluate import coco_ap, evaluate
    from decaf.detect.train import Detector, detect_split

    detector = Detector(bundle, proposals)
    dets, truths = detect_split(detector, root, split, fmt)
    report = evaluate(dets, truths, detector.classes, 0.5, voc07=not area)
    lines = [f"mAP@0.5 {report['mAP50']:.4f} ({report['metric']})"]
    if coco:
        report["coco"] = coco_ap(dets, truths, detector.classes)
        lines.append("COCO AP {AP:.4f}  AP50 {AP50:.4f}  AP75 {AP75:.4f}".format(**report["coco"]))
    lines += [f"  {k}: {v['ap']:.4f}" for k, v in report["per_class"].items()]
    emit(report, "\n".join(lines), as_json)


def detect_command(
    target: Annotated[Path, typer.Argument(help="A picture or a folder of pictures.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="A detector bundle (.pt).")],
    score_threshold: Annotated[float, typer.Option(help="Drop weaker detections.")] = 0.5,
    draw: Annotated[
        Path | None, typer.Option(help="Write the picture with boxes (one input only).")
    ] = None,
    proposals: Annotated[
        str | None,
        typer.Option(help="Fast R-CNN bundles: a proposals file keyed by file stem."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Boxes, labels and scores (and mask areas, for Mask R-CNN) for each picture."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    from decaf.core.images import image_format_for, load_image, save_image
    from decaf.detect.train import Detector

    if not 0 <= score_threshold <= 1:
        raise OptionError("--score-threshold must be in 0..1")
    paths = image_paths(target)
    if draw is not None:
        image_format_for(draw)
        if len(paths) != 1:
            raise OptionError("--draw takes one input picture")
    pictures = [load_image(p) for p in paths]
    det = Detector(model, proposals)
    results, lines = [], []
    for path, pic in zip(paths, pictures, strict=True):
        x = torch.from_numpy(np.asarray(pic, np.float32) / 255).permute(2, 0, 1).contiguous()
        pred = det.predict([x], score_threshold, keys=[path.stem])[0]
        masks = pred["masks"][:, 0] >= 0.5 if "masks" in pred else None
        objects = [
            {"label": det.classes[int(label) - 1], "score": round(float(score), 4),
             "box": [round(float(v), 1) for v in box]}
            for box, label, score in zip(pred["boxes"], pred["labels"], pred["scores"],
                                         strict=True)
        ]  # fmt: skip
        if masks is not None:
            for o, m in zip(objects, masks, strict=True):
                o["mask_pixels"] = int(m.sum())
        results.append({"image": str(path), "objects": objects})
        shown = ", ".join(f"{o['label']} {o['score']:.2f}" for o in objects) or "nothing"
        lines.append(f"{path}: {shown}")
        if draw is not None:
            canvas = pic.copy()
            if masks is not None and len(masks):
                tint = np.asarray(canvas, np.float32)
                tint[masks.any(0).numpy()] = tint[masks.any(0).numpy()] * 0.5 + [0, 127, 127]
                canvas = Image.fromarray(tint.round().astype(np.uint8))
            pen = ImageDraw.Draw(canvas)
            for o in objects:
                pen.rectangle(o["box"], outline=(255, 0, 0), width=2)
                pen.text((o["box"][0] + 2, o["box"][1] + 2), f"{o['label']} {o['score']:.2f}",
                         fill=(255, 255, 0))  # fmt: skip
            save_image(canvas, draw)
    emit({"results": results}, "\n".join(lines), as_json)
