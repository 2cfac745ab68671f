from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decaf.core.errors import OptionError
from decaf.data.folders import from_list, scan
from decaf.data.mean import compute_mean, save_mean
from decaf.data.synthetic import LOOKS, photo_styles


def test_mean_image_matches_caffe_layout(tmp_path: Path) -> None:
    for k, rgb in enumerate([(10, 20, 30), (30, 40, 50)]):
        d = tmp_path / "c"
        d.mkdir(exist_ok=True)
        Image.fromarray(np.full((7, 9, 3), rgb, np.uint8)).save(d / f"{k}.png")
    mean, skipped = compute_mean(scan(tmp_path), (4, 5))
    assert mean.shape == (3, 4, 5) and mean.dtype == np.float32 and skipped == 0
    np.testing.assert_allclose(mean[:, 0, 0], [40, 30, 20])  # BGR
    rgb, _ = compute_mean(scan(tmp_path), (4, 5), order="rgb")
    np.testing.assert_allclose(rgb[:, 2, 3], [20, 30, 40])
    out = save_mean(mean, tmp_path / "mean.npy")
    np.testing.assert_array_equal(np.load(out), mean)
    with pytest.raises(OptionError, match=r"\.npy"):
        save_mean(mean, tmp_path / "mean.png")


def test_photo_styles_dataset(tmp_path: Path) -> None:
    out = tmp_path / "styles"
    info = photo_styles(out, per_class=4, size=32, looks=["noir", "hazy", "bright"], seed=3)
    assert info["classes"] == ["bright", "hazy", "noir"] and info["train"] + info["val"] == 12
    data = scan(out)
    assert data.classes == ["bright", "hazy", "noir"] and data.counts() == [4, 4, 4]
    train = from_list(out / "train.txt")
    assert train.classes == data.classes and len(train) == info["train"]
    noir = np.asarray(Image.open(next((out / "noir").iterdir())), np.float64)
    bright = np.asarray(Image.open(next((out / "bright").iterdir())), np.float64)
    assert np.abs(noir[..., 0] - noir[..., 2]).mean() < 3  # grey (JPEG chroma aside)
    assert bright.mean() > noir.mean()
    with pytest.raises(OptionError, match="not empty"):
        photo_styles(out, per_class=2, size=32, looks=["noir"])
    with pytest.raises(OptionError, match="unknown look"):
        photo_styles(tmp_path / "x", looks=["sepia"])
    assert len(LOOKS) >= 8


def test_shapes_voc_with_masks_and_a_perfect_detector(tmp_path: Path) -> None:
    from decaf.data.annotations import read_xml
    from decaf.data.synthetic import shapes
    from decaf.detect.evaluate import Detection, GroundTruth, evaluate

    info = shapes(tmp_path / "s", count=8, val=3, size=(64, 96), masks=True, seed=5)
    root = tmp_path / "s"
    assert (root / "ImageSets/Main/val.txt").read_text().split() == ["000005", "000006", "000007"]
    truths, dets = [], []
    for stem in (root / "ImageSets/Main/train.txt").read_text().split():
        ann = read_xml(root / "Annotations" / f"{stem}.xml")
        ids = np.asarray(Image.open(root / "SegmentationObject" / f"{stem}.png"))
        assert ids.max() == len(ann.boxes)
        for n, box in enumerate(ann.boxes, 1):  # each box is its visible mask's extent
            ys, xs = np.nonzero(ids == n)
            assert box.xyxy == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            truths.append(GroundTruth(stem, box.label, box.xyxy))
            dets.append(Detection(stem, box.label, 1.0, box.xyxy))
    assert info["objects"] >= len(truths) > 0
    assert evaluate(dets, truths)["mAP50"] == pytest.approx(1.0)


def test_shapes_coco_rle_masks(tmp_path: Path) -> None:
    import json

    from decaf.data.synthetic import shapes

    shapes(tmp_path / "c", count=4, val=1, size=(48, 64), fmt="coco", masks=True, seed=2)
    data = json.loads((tmp_path / "c" / "instances_train.json").read_text())
    assert len(data["images"]) == 3 and {c["name"] for c in data["categories"]} == {
        "square", "circle", "triangle"}  # fmt: skip
    for ann in data["annotations"]:
        counts = ann["segmentation"]["counts"]
        assert sum(counts) == np.prod(ann["segmentation"]["size"])
        assert sum(counts[1::2]) == ann["area"]  # odd runs are the object's pixels
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0
    with pytest.raises(OptionError, match="format"):
        shapes(tmp_path / "x", fmt="yolo")
