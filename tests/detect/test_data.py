"""COCO and VOC loading into one sample type; masks; proposals files; Fast R-CNN mode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from decaf.core.errors import OptionError
from decaf.data.folders import DataError
from decaf.data.synthetic import shapes
from decaf.detect.data import DetectionDataset, decode_segment
from decaf.detect.proposals import ProposalSource, read_proposals, selective_search


def test_coco_and_voc_give_the_same_samples(tmp_path: Path) -> None:
    shapes(tmp_path / "voc", count=6, val=2, size=(64, 80), masks=True, seed=5)
    shapes(tmp_path / "coco", count=6, val=2, size=(64, 80), fmt="coco", masks=True, seed=5)
    voc = DetectionDataset(tmp_path / "voc", "train", masks=True)
    coco = DetectionDataset(tmp_path / "coco", "train", "coco", masks=True)
    assert voc.classes == coco.classes == ["square", "circle", "triangle"]
    assert len(voc) == len(coco) == 4
    for i in range(4):
        (a, ta), (b, tb) = voc[i], coco[i]
        assert torch.equal(a, b)
        # VOC's 1-based inclusive integers and COCO's continuous xywh meet in one convention
        assert torch.equal(ta["boxes"], tb["boxes"]) and torch.equal(ta["labels"], tb["labels"])
        assert ta["masks"].shape == (len(ta["boxes"]), *a.shape[1:])
        assert torch.equal(ta["masks"], tb["masks"])
        # each box is its mask's extent
        for box, m in zip(ta["boxes"], ta["masks"], strict=True):
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_coco_crowd_empty_and_malformed(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (40, 30)).save(tmp_path / "images" / "a.png")
    Image.new("RGB", (40, 30)).save(tmp_path / "images" / "b.png")
    doc = {
        "images": [{"id": 1, "file_name": "a.png", "width": 40, "height": 30},
                   {"id": 2, "file_name": "b.png", "width": 40, "height": 30}],
        "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [2, 3, 10, 5], "iscrowd": 0,
             "segmentation": [[2, 3, 12, 3, 12, 8, 2, 8]]},
            {"id": 2, "image_id": 1, "category_id": 3, "bbox": [20, 5, 8, 8], "iscrowd": 1},
            {"id": 3, "image_id": 1, "category_id": 3, "bbox": [50, 5, 8, 8]},
        ],
    }  # fmt: skip
    (tmp_path / "instances_train.json").write_text(json.dumps(doc))
    data = DetectionDataset(tmp_path, "train", "coco")
    assert data.classes == ["dog", "cat"]  # by category id
    ann = data.samples[0].annotation
    assert [b.xyxy for b in ann.boxes] == [(2, 3, 12, 8), (20, 5, 28, 13)]
    assert ann.boxes[1].difficult and "empty box" in ann.dropped[0]  # outside the 40 px image
    _, target = data[0]
    assert target["labels"].tolist() == [2]  # the crowd box stays out of training
    _, empty = data[1]
    assert empty["boxes"].shape == (0, 4)
    mask = decode_segment(doc["annotations"][0]["segmentation"], 30, 40)
    assert mask.sum() == 11 * 6 and mask[3, 2] == 1 and mask[9, 2] == 0
    doc["annotations"][0]["bbox"] = "oops"
    (tmp_path / "instances_train.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="annotation 1 is malformed"):
        DetectionDataset(tmp_path, "train", "coco")
    with pytest.raises(DataError, match="instances_val.json"):
        DetectionDataset(tmp_path, "val", "coco")
    # numbers that are not numbers: json writes NaN and Infinity tokens and reads them back
    for field, value, where in (("bbox", [2, float("nan"), 10, 5], "bbox"),
                                ("bbox", [2, 3, float("inf"), 5], "bbox")):  # fmt: skip
        doc["annotations"][0][field] = value
        (tmp_path / "instances_train.json").write_text(json.dumps(doc))
        with pytest.raises(DataError, match=f"annotation 1 {where}.*not a pixel coordinate"):
            DetectionDataset(tmp_path, "train", "coco")
    doc["annotations"][0]["bbox"] = [2, 3, 10, 5]
    doc["images"][0]["width"] = 1e400
    (tmp_path / "instances_train.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="image 1 width"):
        DetectionDataset(tmp_path, "train", "coco")


def test_proposal_files_and_selective_search(tmp_path: Path) -> None:
    boxes = {"000001": [[0, 0, 10, 10], [5, 5, 20, 25]], "000002": []}
    (tmp_path / "p.json").write_text(json.dumps(boxes))
    np.savez(tmp_path / "p.npz", **{k: np.asarray(v, np.float32) for k, v in boxes.items()})
    for name in ("p.json", "p.npz"):
        table = read_proposals(tmp_path / name)
        assert table["000001"].shape == (2, 4) and table["000002"].shape == (0, 4)
    source = ProposalSource(tmp_path / "p.json", max_boxes=1)
    assert source("000001", np.zeros((4, 4, 3), np.uint8)).tolist() == [[0, 0, 10, 10]]
    with pytest.raises(DataError, match="no proposals for image 'x'"):
        source("x", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "bad.json").write_text('{"a": [[1, 2, 3]]}')
    with pytest.raises(DataError, match="want \\(N, 4\\)"):
        read_proposals(tmp_path / "bad.json")
    img = np.full((64, 64, 3), 200, np.uint8)
    img[10:30, 20:50] = (10, 40, 220)
    found = selective_search(img, max_boxes=50)
    assert 1 <= len(found) <= 50 and (found[:, 2:] > found[:, :2]).all()
    # some proposal covers the blue block well
    iou = [_iou(b, (20, 10, 50, 30)) for b in found.tolist()]
    assert max(iou) > 0.7


def _iou(a: list[float], b: tuple[int, ...]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_fast_rcnn_scores_given_proposals(tmp_path: Path) -> None:
    from decaf.detect.evaluate import evaluate_detector
    from decaf.detect.model import build
    from decaf.detect.predict import Detector
    from decaf.detect.train import DetectorOptions, train_detector

    torch.manual_seed(0)
    net = build(2, pretrained=False, min_size=128, max_size=128, external_proposals=True).eval()
    props = [torch.tensor([[0.0, 0, 32, 32], [10, 10, 50, 40]])]
    with torch.no_grad():
        out = net([torch.rand(3, 64, 64)], proposals=props)[0]
    # at most one detection per (proposal, class); the boxes live in the input's pixels
    assert len(out["boxes"]) <= 4 and (out["boxes"] <= 64).all()
    with pytest.raises(OptionError, match="one proposal set per picture"):
        net([torch.rand(3, 64, 64)])
    shapes(tmp_path / "s", count=6, val=2, size=(64, 72), seed=3)
    opts = DetectorOptions(iters=2, batch=2, min_size=64, max_size=72,
                           proposals="selective-search")  # fmt: skip
    train_detector(tmp_path / "s", tmp_path / "fast.pt", opts)
    det = Detector(tmp_path / "fast.pt")
    assert det.external and det.classes == ["square", "circle", "triangle"]
    report = evaluate_detector(det, tmp_path / "s", "val")
    assert 0.0 <= report["mAP50"] <= 1.0


def test_annotation_paths_stay_inside_the_dataset(tmp_path: Path) -> None:
    from decaf.data.annotations import read_xml, write_xml

    shapes(tmp_path / "voc", count=3, val=1, size=(48, 48), seed=3)
    xml = sorted((tmp_path / "voc" / "Annotations").glob("*.xml"))[0]
    ann = read_xml(xml)
    ann.filename = "../../../etc/passwd"
    write_xml(ann, xml)
    with pytest.raises(DataError, match="points outside"):
        DetectionDataset(tmp_path / "voc", "train")
    listing = tmp_path / "voc" / "ImageSets" / "Main" / "train.txt"
    listing.write_text("../../outside\n")
    with pytest.raises(DataError, match="'../../outside.xml' points outside"):
        DetectionDataset(tmp_path / "voc", "train")
    (tmp_path / "images").mkdir()
    doc = {"images": [{"id": 1, "file_name": "/etc/passwd", "width": 4, "height": 4}],
           "categories": [{"id": 1, "name": "x"}], "annotations": []}  # fmt: skip
    (tmp_path / "instances_train.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match="'/etc/passwd' points outside"):
        DetectionDataset(tmp_path, "train", "coco")
