"""KITTI labels → VOC layout, read back by the detection dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from decaf.core.errors import OptionError
from decaf.data.folders import DataError
from decaf.data.kitti import kitti_to_voc, read_kitti_label
from decaf.detect.data import DetectionDataset

LINES = [
    "Car 0.00 0 -1.58 587.01 173.33 614.12 200.12 1.65 1.67 3.64 -0.65 1.71 46.70 -1.59",
    "Pedestrian 0.00 0 0.21 10.00 20.00 30.00 90.00 1.7 0.6 0.8 1 1 10 0.1",
    "Car 0.80 1 -1.5 100.00 50.00 160.00 80.00 1.5 1.6 3.9 1 1 20 -1.5",  # truncated .8 → hard
    "DontCare -1 -1 -10 5.00 5.00 40.00 40.00 -1 -1 -1 -1000 -1000 -1000 -10",
    "Cyclist 0.00 0 0 700.00 10.00 800.00 60.00 1 1 1 1 1 1 1",  # beyond the 640 px picture
]


def _kitti(root: Path, n: int = 5) -> Path:
    (root / "training" / "label_2").mkdir(parents=True)
    (root / "training" / "image_2").mkdir()
    for k in range(n):
        Image.new("RGB", (640, 200)).save(root / "training" / "image_2" / f"{k:06d}.png")
        (root / "training" / "label_2" / f"{k:06d}.txt").write_text("\n".join(LINES) + "\n")
    return root


def test_label_parsing_hard_objects_and_clipping(tmp_path: Path) -> None:
    _kitti(tmp_path, 1)
    ann = read_kitti_label(tmp_path / "training" / "label_2" / "000000.txt", 640, 200)
    assert [b.label for b in ann.boxes] == ["Car", "Pedestrian", "Car"]
    assert [b.difficult for b in ann.boxes] == [False, False, True]
    assert ann.boxes[0].xyxy == (587.01, 173.33, 614.12, 200.0)  # clipped to the 200 px height
    assert "empty box" in ann.dropped[0]  # the cyclist lies outside the picture


def test_convert_to_voc_and_train_split(tmp_path: Path) -> None:
    info = kitti_to_voc(_kitti(tmp_path / "kitti"), tmp_path / "voc", val=0.4, seed=1)
    assert info["images"] == 5 and info["val"] == 2 and info["train"] == 3
    assert info["classes"] == ["Car", "Pedestrian"] and info["difficult"] == 5
    data = DetectionDataset(tmp_path / "voc", "train")
    assert data.classes == ["Car", "Pedestrian"] and len(data) == 3
    img, target = data[0]
    assert img.shape == (3, 200, 640)
    # VOC's integer boxes keep the KITTI box to within a pixel; the hard car stays out
    assert target["labels"].tolist() == [1, 2]
    assert (target["boxes"][1] - target["boxes"].new_tensor([10, 20, 30, 90])).abs().max() <= 1
    with pytest.raises(OptionError, match="not empty"):
        kitti_to_voc(tmp_path / "kitti", tmp_path / "voc")
    (tmp_path / "kitti" / "training" / "label_2" / "000001.txt").write_text("Car 0 0\n")
    with pytest.raises(DataError, match="000001.txt:1: want at least 8 fields"):
        kitti_to_voc(tmp_path / "kitti", tmp_path / "voc2")
    assert not (tmp_path / "voc2").exists()
