from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decaf.classify.predict import Classifier, evaluate
from decaf.classify.train import FinetuneOptions, finetune
from decaf.core.bundle import load_bundle
from decaf.core.errors import OptionError
from decaf.data.folders import scan
from decaf.data.synthetic import photo_styles


@pytest.fixture(scope="module")
def styles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "styles"
    photo_styles(out, per_class=8, size=64, looks=["noir", "bright", "hazy"], seed=1)
    return out


def test_finetune_writes_a_bundle_that_classifies(styles: Path, tmp_path: Path) -> None:
    opts = FinetuneOptions(size=64, iters=4, batch=8, workers=0, freeze=2)
    summary = finetune(styles / "train.txt", styles / "val.txt", tmp_path / "m.pt", opts)
    assert summary["iterations"] == 4 and not summary["interrupted"]
    assert set(summary["val"]) == {"loss", "top1", "top5"}
    bundle = load_bundle(tmp_path / "m.pt", task="classify")
    assert bundle["classes"] == ["bright", "hazy", "noir"]
    assert bundle["provenance"]["recipe"]["head_lr_mult"] == 10.0
    assert bundle["provenance"]["init"] == "pretrained"
    assert (tmp_path / "m.run" / "metrics.csv").is_file()
    clf = Classifier.from_bundle(tmp_path / "m.pt")
    report = evaluate(clf, scan(styles / "val.txt"))
    assert report["images"] == summary["val_images"]
    assert report["top1"] == pytest.approx(summary["val"]["top1"])


def test_finetune_option_errors(styles: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="not both"):
        finetune(styles, None, tmp_path / "m.pt", FinetuneOptions(epochs=1, iters=2))
    with pytest.raises(OptionError, match="unknown model"):
        finetune(styles, None, tmp_path / "m.pt", FinetuneOptions(backbone="nope", iters=1))


@pytest.mark.slow
def test_pretrained_beats_scratch_on_photo_styles(tmp_path: Path) -> None:
    """The Flickr-Style finding in miniature: same budget, ImageNet start wins clearly."""
    data = tmp_path / "styles"
    photo_styles(data, per_class=20, size=96, seed=2)
    torch.set_num_threads(2)
    scores = {}
    for scratch in (False, True):
        opts = FinetuneOptions(size=96, epochs=3, batch=16, workers=2, scratch=scratch)
        s = finetune(data / "train.txt", data / "val.txt", tmp_path / f"{scratch}.pt", opts)
        scores[scratch] = s["val"]["top1"]
    assert scores[False] >= 0.6, scores
    assert scores[False] >= scores[True] + 0.25, scores
