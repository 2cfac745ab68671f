"""Detector: model variants, a short end-to-end run on synthetic shapes, bundle, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decaf.core.bundle import BundleError
from decaf.data.folders import DataError
from decaf.data.synthetic import shapes
from decaf.detect.model import build
from decaf.detect.train import (
    Detector,
    DetectorOptions,
    VOCDataset,
    evaluate_detector,
    train_detector,
)


@pytest.mark.parametrize(("masks", "roi"), [(False, "align"), (False, "pool"), (True, "align")])
def test_model_variants_give_losses_and_detections(masks: bool, roi: str) -> None:
    torch.manual_seed(0)
    net = build(3, masks=masks, roi=roi, min_size=96, max_size=128).train()
    imgs = [torch.rand(3, 96, 128), torch.rand(3, 80, 96)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20, 60, 80]]), "labels": torch.tensor([1])},
        {"boxes": torch.tensor([[5.0, 5, 40, 50]]), "labels": torch.tensor([3])},
    ]
    if masks:
        for img, t in zip(imgs, targets, strict=True):
            m = torch.zeros(1, *img.shape[1:], dtype=torch.uint8)
            x1, y1, x2, y2 = (int(v) for v in t["boxes"][0])
            m[0, y1:y2, x1:x2] = 1
            t["masks"] = m
    losses = net(imgs, targets)
    assert ("loss_mask" in losses) is masks
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    net.eval()
    with torch.no_grad():
        out = net(imgs)
    assert len(out) == 2 and out[0]["boxes"].shape[-1] == 4


def test_short_training_run_bundle_and_evaluation(tmp_path: Path) -> None:
    shapes(tmp_path / "s", count=10, val=4, size=(64, 80), seed=1)
    data = VOCDataset(tmp_path / "s", "train", flip=True)
    img, target = data[0]
    assert img.shape[0] == 3 and target["labels"].min() >= 1
    opts = DetectorOptions(iters=3, batch=2, min_size=64, max_size=80, warmup_iters=1)
    summary = train_detector(tmp_path / "s", tmp_path / "det.pt", opts)
    assert summary["iterations"] == 3 and summary["bundle"] == str(tmp_path / "det.pt")
    det = Detector(tmp_path / "det.pt")
    assert det.classes == ["square", "circle", "triangle"]
    report = evaluate_detector(det, tmp_path / "s", "val")
    assert 0.0 <= report["mAP50"] <= 1.0 and set(report["per_class"]) <= set(det.classes)
    with pytest.raises(BundleError, match="'detect' bundle"):
        from decaf.classify.predict import Classifier

        Classifier.from_bundle(tmp_path / "det.pt")
    with pytest.raises(DataError, match="ImageSets"):
        VOCDataset(tmp_path, "train")
