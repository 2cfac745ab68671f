"""Detector: model variants, a short end-to-end run on synthetic shapes, bundle, evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decaf.core.bundle import BundleError
from decaf.data.folders import DataError
from decaf.data.synthetic import shapes
from decaf.detect.data import DetectionDataset
from decaf.detect.evaluate import evaluate_detector
from decaf.detect.model import build
from decaf.detect.predict import Detector
from decaf.detect.train import DetectorOptions, train_detector


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
    data = DetectionDataset(tmp_path / "s", "train", flip=True)
    img, target = data[0]
    assert img.shape[0] == 3 and target["labels"].min() >= 1
    opts = DetectorOptions(iters=3, batch=2, min_size=64, max_size=80, warmup_iters=1)
    summary = train_detector(tmp_path / "s", tmp_path / "det.pt", opts)
    assert summary["iterations"] == 3 and summary["bundle"] == str(tmp_path / "det.pt")
    det = Detector(tmp_path / "det.pt")
    assert det.classes == ["square", "circle", "triangle"]
    report = evaluate_detector(det, tmp_path / "s", "val")
    assert 0.0 <= report["mAP50"] <= 1.0 and set(report["per_class"]) <= set(det.classes)
    # strips and single pixels are padded for the network and answered in their own frame
    from PIL import Image

    for size in ((1, 1), (1, 900), (900, 1)):
        found = det([Image.new("RGB", size, (120, 40, 40))], score_threshold=0.0)[0]
        assert (found.width, found.height) == size
        for o in found.objects:
            x1, y1, x2, y2 = o.box
            assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]
    with pytest.raises(BundleError, match="'detect' bundle"):
        from decaf.classify.predict import Classifier

        Classifier.from_bundle(tmp_path / "det.pt")
    with pytest.raises(DataError, match="ImageSets"):
        DetectionDataset(tmp_path, "train")


def test_ohem_keeps_the_hardest_rois_after_nms() -> None:
    from decaf.detect.ohem import select_hard

    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    losses = torch.tensor([0.5, 0.9, 0.7, 0.1])
    # box 0 overlaps box 1 (IoU .81 > .7) and is suppressed by its harder neighbour
    assert select_hard(losses, boxes, 2).tolist() == [1, 2]
    assert select_hard(losses, boxes, 3, nms=None).tolist() == [1, 2, 0]


def test_ohem_training_trains_on_b_rois_and_saves_a_plain_bundle(tmp_path: Path) -> None:
    from decaf.detect.ohem import OHEMRoIHeads, enable_ohem

    torch.manual_seed(0)
    net = build(3, min_size=64, max_size=80)
    enable_ohem(net, batch_per_image=8)
    assert isinstance(net.roi_heads, OHEMRoIHeads)
    net.train()
    losses = net([torch.rand(3, 64, 80)], [{"boxes": torch.tensor([[5.0, 5, 40, 40]]),
                                            "labels": torch.tensor([2])}])  # fmt: skip
    assert net.roi_heads.last_selected == [8]
    sum(losses.values()).backward()
    shapes(tmp_path / "s", count=6, val=2, size=(64, 72), seed=3)
    opts = DetectorOptions(iters=2, batch=2, min_size=64, max_size=72, ohem=True, ohem_batch=16)
    train_detector(tmp_path / "s", tmp_path / "ohem.pt", opts)
    assert Detector(tmp_path / "ohem.pt").classes == ["square", "circle", "triangle"]
    with pytest.raises(Exception, match="box heads only"):
        enable_ohem(build(3, masks=True), 8)


def test_options_validate_themselves_before_any_network_loads() -> None:
    """From Python, a bad option is the CLI's clear error, not a silent one-iteration run."""
    from decaf.core.errors import OptionError

    for bad, match in (({"epochs": -1}, "epochs must be a positive"),
                       ({"minutes": float("nan")}, "minutes must be a positive"),
                       ({"epochs": 1, "minutes": 1}, "not both"),
                       ({"min_size": -5}, "min_size must be"),
                       ({"min_size": 600, "max_size": 512}, "exceeds max_size"),
                       ({"base_lr": float("nan")}, "base_lr must be"),
                       ({"anchor_sizes": (16, 32)}, "4 anchor sizes"),
                       ({"aspect_ratios": (0.5, -1.0)}, "aspect ratios must be"),
                       ({"roi": "warp"}, "roi must be")):  # fmt: skip
        with pytest.raises(OptionError, match=match):
            DetectorOptions(**bad)


def test_a_split_of_inverted_boxes_is_refused_and_drops_are_reported(tmp_path: Path) -> None:
    from decaf.data.annotations import read_xml, write_xml

    shapes(tmp_path / "s", count=4, val=1, size=(64, 80), seed=2)
    xmls = sorted((tmp_path / "s" / "Annotations").glob("*.xml"))
    first = read_xml(xmls[0])
    for path in xmls:  # every box turned inside out: x2 < x1
        ann = read_xml(path)
        for b in ann.boxes:
            b.x1, b.x2 = b.x2, b.x1
        write_xml(ann, path)
    opts = DetectorOptions(iters=1, batch=2, min_size=64, max_size=80, warmup_iters=1)
    with pytest.raises(DataError, match="no usable boxes .* dropped, e.g. .*empty box"):
        train_detector(tmp_path / "s", tmp_path / "det.pt", opts)
    assert not (tmp_path / "det.pt").exists()
    write_xml(first, xmls[0])  # one picture good again: training runs and says what it left out
    summary = train_detector(tmp_path / "s", tmp_path / "det.pt", opts)
    assert summary["boxes"] == len(first.boxes) and summary["dropped_boxes"] > 0
