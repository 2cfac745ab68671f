"""decaf classify / train classifier / eval classifier / data: results, errors, interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from decaf.cli import main
from decaf.data.synthetic import photo_styles


@pytest.fixture(scope="module")
def styles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "styles"
    photo_styles(out, per_class=6, size=48, looks=["noir", "bright"], seed=4)
    return out


def _json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_classify_imagenet_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(skimage.data.chelsea()).save(tmp_path / "cat.jpg")
    assert main(["classify", str(tmp_path / "cat.jpg"), "--top", "3", "--json"]) == 0
    record = _json(capsys)["results"][0]
    assert record["top"][0]["label"] == "Egyptian cat" and len(record["top"]) == 3


def test_train_eval_classify_round_trip(
    styles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "m.pt"
    args = ["train", "classifier", str(styles / "train.txt"), "--val", str(styles / "val.txt"),
            "--iters", "3", "--batch", "4", "--size", "48", "--workers", "0", "-o", str(bundle),
            "--json"]  # fmt: skip
    assert main(args) == 0
    summary = _json(capsys)
    assert summary["bundle"] == str(bundle) and summary["iterations"] == 3
    png = tmp_path / "confusion.png"
    assert main(["eval", "classifier", str(bundle), str(styles), "--confusion", str(png),
                 "--workers", "0", "--json"]) == 0  # fmt: skip
    report = _json(capsys)
    assert {"top1", "top5", "per_class"} <= set(report) and report["images"] == 12
    assert set(report["per_class"]) == {"bright", "noir"}
    assert Image.open(png).size[0] > 50
    assert main(["classify", str(styles / "noir"), "--model", str(bundle), "--json"]) == 0
    results = _json(capsys)["results"]
    assert len(results) == 6 and len(results[0]["top"]) == 2  # top-5 capped at 2 classes
    assert main(["data", "mean", str(styles), "-o", str(tmp_path / "m.npy"), "--size", "8"]) == 0
    assert np.load(tmp_path / "m.npy").shape == (3, 8, 8)


def _bad_data(tmp: Path) -> dict[str, str]:
    (tmp / "empty").mkdir()
    (tmp / "hollow" / "cls").mkdir(parents=True)
    (tmp / "bad.txt").write_text("a.jpg zero\n")
    (tmp / "notbundle.pt").write_bytes(b"nope")
    return {
        "missing": str(tmp / "missing"),
        "empty": str(tmp / "empty"),
        "hollow": str(tmp / "hollow"),
        "badlist": str(tmp / "bad.txt"),
        "notbundle": str(tmp / "notbundle.pt"),
    }


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["train", "classifier", "{missing}", "-o", "{out}"], "no such folder"),
        (["train", "classifier", "{empty}", "-o", "{out}"], "no class folders"),
        (["train", "classifier", "{hollow}", "-o", "{out}"], "class 'cls' has no readable"),
        (["train", "classifier", "{badlist}", "-o", "{out}"], "bad.txt:1: expected"),
        (["train", "classifier", "{styles}", "-o", "{out}", "--backbone", "x"], "unknown model"),
        (["train", "classifier", "{styles}", "-o", "{tmp}/m.txt"], "a bundle is a .pt"),
        (
            ["train", "classifier", "{styles}", "-o", "{out}", "--epochs", "1", "--iters", "1"],
            "not both",
        ),
        (
            ["train", "classifier", "{styles}", "-o", "{out}", "--backbone", "vgg16"],
            "never downloads",
        ),
        (["classify", "{missing}"], "no such file or folder"),
        (["classify", "{empty}"], "no pictures"),
        (["classify", "{styles}", "--model", "{notbundle}"], "not a decaf bundle"),
        (["eval", "classifier", "{notbundle}", "{styles}"], "not a decaf bundle"),
        (["data", "mean", "{styles}", "-o", "{tmp}/m.png"], ".npy"),
        (["data", "synth", "photo-styles", "{styles}"], "not empty"),
    ],
)
def test_errors_exit_2_and_write_nothing(
    args: list[str], phrase: str, styles: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    paths = _bad_data(tmp_path) | {"styles": str(styles), "tmp": str(tmp_path),
                                   "out": str(tmp_path / "m.pt")}  # fmt: skip
    assert main([a.format(**paths) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and phrase in err
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m.run").exists()


def test_sigterm_snapshots_then_resume_finishes(styles: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "m.pt"
    base = [sys.executable, "-m", "decaf", "train", "classifier", str(styles), "--size", "48",
            "--batch", "4", "--workers", "0", "-o", str(bundle), "--iters", "400"]  # fmt: skip
    proc = subprocess.Popen(base, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "m.run" / "metrics.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 60):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Resume with --resume" in out
    snaps = sorted((tmp_path / "m.run" / "snapshots").glob("iter_*.pt"))
    assert len(snaps) == 1 and not bundle.exists()
    done = int(snaps[0].stem.split("_")[1])
    assert 0 < done < 400
    resumed = subprocess.run(
        [*base[:-1], str(done + 5), "--resume", str(tmp_path / "m.run"), "--json"],
        capture_output=True, text=True, timeout=300, env={**os.environ},
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["iterations"] == done + 5
    assert bundle.is_file()
