"""Training a detector on the shared engine: options, time budgets, the bundle it writes.

Prediction is :mod:`decaf.detect.predict`; evaluation :mod:`decaf.detect.evaluate`.
"""

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

from decaf.core import checks
from decaf.core.bundle import check_bundle_dest, plain, save_bundle
from decaf.core.devices import check_device_name
from decaf.core.errors import OptionError
from decaf.core.images import load_image
from decaf.core.progress import count_progress
from decaf.data.folders import DataError
from decaf.detect import model as dmodel
from decaf.detect.data import DetectionDataset, collate
from decaf.detect.proposals import ProposalSource
from decaf.train.loop import LoopConfig, Trainer, set_seed
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig

TASK = dmodel.TASK


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
    device: str = "auto"  # auto (the local GPU when there is one) | cpu | cuda | cuda:N

    def __post_init__(self) -> None:
        """Every check a bad value needs, here, so Python users get the CLI's errors."""
        for name in ("iters", "batch", "min_size", "max_size", "fpn_channels", "head_width",
                     "rois_per_image", "ohem_batch"):  # fmt: skip
            checks.at_least(name, getattr(self, name), 1)
        for name in ("warmup_iters", "seed", "workers", "display", "snapshot_interval"):
            checks.at_least(name, getattr(self, name), 0)
        if self.min_size > self.max_size:
            raise OptionError(f"min_size {self.min_size} exceeds max_size {self.max_size}")
        checks.positive("base_lr", self.base_lr)
        checks.in_range("momentum", self.momentum, 0, 0.999)
        checks.in_range("weight_decay", self.weight_decay, 0, 0.999)
        checks.one_of("roi", self.roi, ("align", "pool"))
        if self.epochs is not None and self.minutes is not None:
            raise OptionError("give epochs or minutes, not both")
        for name in ("epochs", "minutes"):
            if getattr(self, name) is not None:
                checks.positive(name, getattr(self, name))
        if len(self.anchor_sizes) != dmodel.PYRAMID_LEVELS or not self.aspect_ratios:
            raise OptionError(f"give {dmodel.PYRAMID_LEVELS} anchor sizes (one per pyramid "
                              "level) and at least one aspect ratio")  # fmt: skip
        for value in (*self.anchor_sizes, *self.aspect_ratios):
            checks.positive("anchor sizes and aspect ratios", value)
        if self.ohem_nms is not None:
            checks.in_range("ohem_nms", self.ohem_nms, 0.01, 1)
        check_device_name(self.device)


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
    out = check_bundle_dest(out)
    source = ProposalSource(options.proposals) if options.proposals else None
    data = DetectionDataset(root, split, fmt, flip=True, masks=options.masks, proposals=source)
    boxes = data.box_report()
    if boxes["boxes"] == 0:
        examples = "; ".join(boxes["dropped_examples"]) or "none"
        raise DataError(f"{root}: the {split} split has no usable boxes "
                        f"({boxes['dropped_boxes']} dropped, e.g. {examples})")  # fmt: skip
    if source is not None and source.table is None:
        _precompute(data, source, progress)
    set_seed(options.seed)
    net = dmodel.from_config(len(data.classes), asdict(options), pretrained=not options.scratch)
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
        device=None if options.device == "auto" else options.device,
        max_seconds=options.minutes * 60 if options.minutes is not None else None,
    )  # fmt: skip
    trainer = Trainer(net, data, detection_step, solver, loop, collate_fn=collate)
    result = trainer.fit(resume=resume)
    summary = {"iterations": result.iteration, "seconds": round(result.seconds, 1),
               "train": result.train, "interrupted": result.interrupted,
               "time_up": result.time_up,
               "snapshot": str(result.snapshot) if result.snapshot else None,
               "classes": data.classes, **boxes}  # fmt: skip
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
