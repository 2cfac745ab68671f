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
