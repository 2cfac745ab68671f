"""Detection data, training on the shared engine, bundles, prediction and VOC evaluation."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from decaf.core.bundle import load_bundle, plain, save_bundle
from decaf.core.errors import OptionError
from decaf.core.images import load_image
from decaf.data.annotations import Annotation, read_xml
from decaf.data.folders import DataError
from decaf.detect import model as dmodel
from decaf.detect.evaluate import Detection, GroundTruth, evaluate
from decaf.train.loop import LoopConfig, Trainer, set_seed
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig

TASK = "detect"


class VOCDataset(Dataset):
    """A VOC layout (JPEGImages/, Annotations/, ImageSets/Main/<split>.txt) as detection samples.

    Items are ``(image tensor in [0, 1], target)`` with boxes in continuous xyxy pixels and labels
    1..K by ``classes``; ``flip`` mirrors at random (training). Objects marked difficult are left
    out of training targets, as py-faster-rcnn does.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", convention: str = "voc",
                 classes: list[str] | None = None, flip: bool = False,
                 masks: bool = False) -> None:  # fmt: skip
        self.root = Path(root)
        listing = self.root / "ImageSets" / "Main" / f"{split}.txt"
        if not listing.is_file():
            raise DataError(f"{self.root}: no {listing.relative_to(self.root)} (a VOC layout?)")
        stems = [s for s in listing.read_text().split() if s]
        if not stems:
            raise DataError(f"{listing}: lists no images")
        self.items: list[tuple[str, Annotation]] = []
        for stem in stems:
            ann = read_xml(self.root / "Annotations" / f"{stem}.xml", convention)
            self.items.append((stem, ann))
        names_file = self.root / "classes.txt"
        found = sorted({b.label for _, a in self.items for b in a.boxes})
        if classes is None:
            classes = names_file.read_text().split() if names_file.is_file() else found
        self.classes = list(classes)
        unknown = sorted(set(found) - set(self.classes))
        if unknown:
            raise DataError(f"{self.root}: classes {unknown} are not in {self.classes}")
        self.flip, self.masks = flip, masks

    def __len__(self) -> int:
        return len(self.items)

    def image_path(self, i: int) -> Path:
        stem, ann = self.items[i]
        path = self.root / "JPEGImages" / ann.filename
        return path if path.is_file() else self.root / "JPEGImages" / f"{stem}.jpg"

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        stem, ann = self.items[i]
        img = torch.from_numpy(np.asarray(load_image(self.image_path(i)), np.float32) / 255)
        img = img.permute(2, 0, 1).contiguous()
        keep = [b for b in ann.boxes if not b.difficult]
        boxes = torch.tensor([b.xyxy for b in keep], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([self.classes.index(b.label) + 1 for b in keep], dtype=torch.int64)
        target: dict[str, torch.Tensor] = {"boxes": boxes, "labels": labels}
        if self.masks:
            from PIL import Image

            ids = np.asarray(Image.open(self.root / "SegmentationObject" / f"{stem}.png"))
            target["masks"] = torch.from_numpy(
                np.stack([ids == n + 1 for n in range(len(ann.boxes))]).astype(np.uint8)
            )[[n for n, b in enumerate(ann.boxes) if not b.difficult]]
        if self.flip and torch.rand(()) < 0.5:
            w = img.shape[-1]
            img = img.flip(-1)
            boxes = target["boxes"]
            target["boxes"] = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0],
                                           boxes[:, 3]], 1)  # fmt: skip
            if "masks" in target:
                target["masks"] = target["masks"].flip(-1)
        return img, target


def collate(batch: list[Any]) -> tuple[list[Any], list[Any]]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


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
    scratch: bool = False
    seed: int = 0
    workers: int = 0
    display: int = 10
    snapshot_interval: int = 0
    ohem: bool = False
    ohem_batch: int = 128  # hardest RoIs per image
    ohem_nms: float | None = 0.7


def train_detector(
    root: str | os.PathLike,
    out: str | os.PathLike,
    options: DetectorOptions = DetectorOptions(),  # noqa: B008 (frozen dataclass)
    split: str = "train",
    convention: str = "voc",
    run_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Train a detector on a VOC layout with SGD + warm-up + step decay; write a bundle."""
    data = VOCDataset(root, split, convention, flip=True, masks=options.masks)
    set_seed(options.seed)
    net = dmodel.build(len(data.classes), options.backbone, not options.scratch,
                       masks=options.masks, roi=options.roi, min_size=options.min_size,
                       max_size=options.max_size)  # fmt: skip
    if options.ohem:
        from decaf.detect.ohem import enable_ohem

        enable_ohem(net, options.ohem_batch, options.ohem_nms)
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
    )  # fmt: skip
    trainer = Trainer(net, data, detection_step, solver, loop, collate_fn=collate)
    result = trainer.fit(resume=resume)
    summary = {"iterations": result.iteration, "seconds": round(result.seconds, 1),
               "train": result.train, "interrupted": result.interrupted,
               "snapshot": str(result.snapshot) if result.snapshot else None,
               "classes": data.classes}  # fmt: skip
    if not result.interrupted and trainer.world.is_main:
        save_bundle({"task": TASK, "arch": options.backbone, "classes": data.classes,
                     "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
                     "config": plain(asdict(options)), "metrics": {"train": result.train},
                     "provenance": {"data": str(root), "split": split}}, out)  # fmt: skip
        summary["bundle"] = str(out)
    return summary


class Detector:
    """A trained detector from a bundle: ``predict(images)`` → boxes, labels, scores."""

    def __init__(self, bundle_path: str | os.PathLike) -> None:
        bundle = load_bundle(bundle_path, task=TASK)
        cfg = bundle["config"]
        self.classes = list(bundle["classes"])
        self.model = dmodel.build(len(self.classes), bundle["arch"], pretrained=False,
                                  masks=cfg["masks"], roi=cfg["roi"], min_size=cfg["min_size"],
                                  max_size=cfg["max_size"])  # fmt: skip
        self.model.load_state_dict(bundle["state_dict"])
        self.model.eval()

    @torch.inference_mode()
    def predict(self, images: list[torch.Tensor], score_threshold: float = 0.05) -> list[dict]:
        out = []
        for det in self.model(images):
            keep = det["scores"] >= score_threshold
            out.append({k: v[keep] for k, v in det.items()})
        return out


def evaluate_detector(detector: Detector, root: str | os.PathLike, split: str = "val",
                      convention: str = "voc", voc07: bool = True) -> dict[str, Any]:  # fmt: skip
    """VOC AP of ``detector`` on a VOC layout split (difficult boxes handled by the protocol)."""
    data = VOCDataset(root, split, convention, classes=detector.classes)
    truths, dets = [], []
    for i, (stem, ann) in enumerate(data.items):
        truths += [GroundTruth(stem, b.label, b.xyxy, b.difficult) for b in ann.boxes]
        img, _ = data[i]
        pred = detector.predict([img], score_threshold=0.0)[0]
        for box, label, score in zip(pred["boxes"].tolist(), pred["labels"].tolist(),
                                     pred["scores"].tolist(), strict=True):  # fmt: skip
            dets.append(Detection(stem, detector.classes[label - 1], score, tuple(box)))
    if not truths:
        raise OptionError(f"{root}: the {split} split has no objects to evaluate against")
    return evaluate(dets, truths, detector.classes, 0.5, voc07)
