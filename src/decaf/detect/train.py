"""Detection data, training on the shared engine, bundles, prediction and VOC evaluation."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from decaf.core.bundle import load_bundle, plain, save_bundle
from decaf.core.errors import OptionError
from decaf.core.images import load_image
from decaf.core.progress import count_progress
from decaf.detect import model as dmodel
from decaf.detect.data import DetectionDataset, collate
from decaf.detect.evaluate import Detection, GroundTruth, evaluate
from decaf.detect.proposals import SELECTIVE_SEARCH, ProposalSource
from decaf.train.loop import LoopConfig, Trainer, set_seed
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig

TASK = "detect"


def detection_step(net: nn.Module, batch: tuple[list[Any], list[Any]]) -> dict[str, torch.Tensor]:
    images, targets = batch
    losses = net(images, targets)
    return {"loss": sum(losses.values()), **losses}


@dataclass(frozen=True)
class DetectorOptions:
    backbone: str = "efficientnet_lite0"
    iters: int = 500
    batch: int = 4
    base_lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iters: int = 50
    masks: bool = False
    roi: str = "align"
    min_size: int = 256
    max_size: int = 512
    fpn_channels: int = 128
    head_width: int = 512
    rois_per_image: int = 128
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128)  # one per pyramid level
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    scratch: bool = False
    seed: int = 0
    workers: int = 0
    display: int = 10
    snapshot_interval: int = 0
    ohem: bool = False
    ohem_batch: int = 128  # hardest RoIs per image
    ohem_nms: float | None = 0.7
    minutes: float | None = None  # a time budget: sets ``iters`` from a timed trial step
    epochs: float | None = None  # sets ``iters`` from the training set's size
    proposals: str | None = None  # Fast R-CNN: "selective-search" or a proposals file


def budget_iterations(net: nn.Module, data: Dataset, batch: int, minutes: float,
                      trials: int = 3) -> int:  # fmt: skip
    """How many updates of ``batch`` pictures fit in ``minutes``, from timed trial steps.

    A step schedule needs its length up front, so a time budget becomes an iteration count: the
    median of ``trials`` forward/backward passes (after one warm-up) is the cost of an update, and
    8 % is held back for displays, the optimiser and evaluation. Gradients are cleared afterwards.
    """
    import statistics
    import time

    times = []
    for t in range(trials + 1):
        items = collate([data[(t * batch + i) % len(data)] for i in range(batch)])
        start = time.perf_counter()
        detection_step(net, items)["loss"].backward()
        times.append(time.perf_counter() - start)
    net.zero_grad(set_to_none=True)
    return max(1, int(minutes * 60 * 0.92 / statistics.median(times[1:])))


_ARCH = ("backbone", "masks", "roi", "min_size", "max_size", "fpn_channels", "head_width",
         "rois_per_image", "anchor_sizes", "aspect_ratios")  # fmt: skip


def _build(num_classes: int, config: dict[str, Any], pretrained: bool) -> nn.Module:
    """The network a training config (or a bundle's saved config) describes."""
    return dmodel.build(num_classes, pretrained=pretrained,
                        external_proposals=config.get("proposals") is not None,
                        **{k: config[k] for k in _ARCH if k in config})  # fmt: skip


def train_detector(
    root: str | os.PathLike,
    out: str | os.PathLike,
    options: DetectorOptions = DetectorOptions(),  # noqa: B008 (frozen dataclass)
    split: str = "train",
    fmt: str = "voc",
    run_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a detector with SGD + warm-up + step decay (×0.1 at 75 %); write a bundle."""
    source = ProposalSource(options.proposals) if options.proposals else None
    data = DetectionDataset(root, split, fmt, flip=True, masks=options.masks, proposals=source)
    if source is not None and source.table is None:
        _precompute(data, source, progress)
    set_seed(options.seed)
    net = _build(len(data.classes), asdict(options), pretrained=not options.scratch)
    if options.ohem:
        from decaf.detect.ohem import enable_ohem

        enable_ohem(net, options.ohem_batch, options.ohem_nms)
    iters = options.iters
    if options.minutes is not None:
        net.train()
        iters = budget_iterations(net, data, options.batch, options.minutes)
    elif options.epochs is not None:
        iters = max(1, math.ceil(options.epochs * len(data) / options.batch))
    options = replace(options, iters=iters)
    solver = SolverConfig(
        lr=LRPolicy("multistep", base_lr=options.base_lr, gamma=0.1,
                    stepvalue=(int(options.iters * 0.75),), max_iter=options.iters,
                    warmup_iters=min(options.warmup_iters, options.iters), warmup_factor=0.1),
        momentum=options.momentum, weight_decay=options.weight_decay, decay_1d=False,
        clip_gradients=10.0,
    )  # fmt: skip
    out = Path(out)
    loop = LoopConfig(
        max_iter=options.iters, batch_size=options.batch, display=options.display,
        snapshot_interval=options.snapshot_interval,
        out_dir=Path(run_dir) if run_dir else out.with_suffix(".run"), seed=options.seed,
        num_workers=options.workers, progress=progress,
        max_seconds=options.minutes * 60 if options.minutes is not None else None,
    )  # fmt: skip
    trainer = Trainer(net, data, detection_step, solver, loop, collate_fn=collate)
    result = trainer.fit(resume=resume)
    summary = {"iterations": result.iteration, "seconds": round(result.seconds, 1),
               "train": result.train, "interrupted": result.interrupted,
               "time_up": result.time_up,
               "snapshot": str(result.snapshot) if result.snapshot else None,
               "classes": data.classes}  # fmt: skip
    if not result.interrupted and trainer.world.is_main:
        save_bundle({"task": TASK, "arch": options.backbone, "classes": data.classes,
                     "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                     "config": plain(asdict(options)), "metrics": {"train": result.train},
                     "provenance": {"data": str(root), "split": split, "format": fmt}},
                    out)  # fmt: skip
        summary["bundle"] = str(out)
    return summary


def _precompute(data: DetectionDataset, source: ProposalSource, progress: bool) -> None:
    """Selective search once per training picture, up front, with a progress bar."""
    with count_progress("selective search", enabled=progress) as step:
        for n, sample in enumerate(data.samples):
            source(sample.key, np.asarray(load_image(sample.path)))
            step(n + 1, len(data))


class Detector:
    """A trained detector from a bundle: ``predict(images)`` → boxes, labels, scores (and masks).

    A Fast R-CNN bundle needs proposals: from ``proposals`` (a file keyed by image id, or
    "selective-search"), else selective search, whatever the model was trained with.
    """

    def __init__(self, bundle_path: str | os.PathLike, proposals: str | None = None) -> None:
        bundle = load_bundle(bundle_path, task=TASK)
        cfg = bundle["config"]
        self.classes = list(bundle["classes"])
        self.model = _build(len(self.classes), cfg, pretrained=False)
        self.model.load_state_dict(bundle["state_dict"])
        self.model.eval()
        self.external = cfg.get("proposals") is not None
        self.proposals = ProposalSource(proposals or SELECTIVE_SEARCH) if self.external else None

    @torch.inference_mode()
    def predict(self, images: list[torch.Tensor], score_threshold: float = 0.05,
                keys: list[str] | None = None) -> list[dict]:  # fmt: skip
        """Detections per picture (``images`` in [0, 1], CHW); ``keys`` name the pictures for a
        proposals file."""
        if self.proposals is not None:
            keys = keys or [str(n) for n in range(len(images))]
            pixels = [(img.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
                      for img in images]  # fmt: skip
            boxes = [self.proposals(k, p) for k, p in zip(keys, pixels, strict=True)]
            found = self.model(images, proposals=boxes)
        else:
            found = self.model(images)
        out = []
        for det in found:
            keep = det["scores"] >= score_threshold
            out.append({k: v[keep] for k, v in det.items()})
        return out


def detect_split(detector: Detector, root: str | os.PathLike, split: str = "val",
                 fmt: str = "voc") -> tuple[list[Detection], list[GroundTruth]]:  # fmt: skip
    """Every detection (no score cut) and every ground-truth box of a split, for ``evaluate``."""
    data = DetectionDataset(root, split, fmt, classes=detector.classes)
    truths, dets = [], []
    for i, sample in enumerate(data.samples):
        truths += [GroundTruth(sample.key, b.label, b.xyxy, b.difficult)
                   for b in sample.annotation.boxes]  # fmt: skip
        img, _ = data[i]
        pred = detector.predict([img], score_threshold=0.0, keys=[sample.key])[0]
        for box, label, score in zip(pred["boxes"].tolist(), pred["labels"].tolist(),
                                     pred["scores"].tolist(), strict=True):  # fmt: skip
            dets.append(Detection(sample.key, detector.classes[label - 1], score, tuple(box)))
    if not truths:
        raise OptionError(f"{root}: the {split} split has no objects to evaluate against")
    return dets, truths


def evaluate_detector(detector: Detector, root: str | os.PathLike, split: str = "val",
                      fmt: str = "voc", voc07: bool = True) -> dict[str, Any]:  # fmt: skip
    """VOC AP of ``detector`` on a split (difficult/crowd objects ignored by the protocol)."""
    dets, truths = detect_split(detector, root, split, fmt)
    return evaluate(dets, truths, detector.classes, 0.5, voc07)
