"""decaf classify / train classifier / eval classifier / data: results, errors, interruption."""

from __future__ import annotations

import csv
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
        (["data", "synth", "photo-styles", "-o", "{styles}"], "not empty"),
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


def test_caffe_cli_convert_train_test_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """decaf data convert → LMDB, then caffe train / test / time on a small net written here."""
    monkeypatch.chdir(tmp_path)  # a relative snapshot_prefix is the working folder's (Caffe)
    for k, value in enumerate((30, 220)):
        d = tmp_path / "pics" / f"c{k}"
        d.mkdir(parents=True)
        for i in range(8):
            Image.fromarray(np.full((10, 10, 3), value + i, np.uint8)).save(d / f"{i}.png")
    assert main(["data", "convert", "lmdb", str(tmp_path / "pics"), "-o", str(tmp_path / "db"),
                 "--gray", "--resize", "8x8", "--shuffle", "--json"]) == 0  # fmt: skip
    assert _json(capsys)["images"] == 16
    net = """
    layer { name: "d" type: "Data" top: "data" top: "label" transform_param { scale: 0.004 }
      data_param { source: "db" batch_size: 8 backend: LMDB } }
    layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
      inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
    layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc"
      include { phase: TEST } }
    """
    (tmp_path / "net.prototxt").write_text(net)
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt"\ntest_iter: 2\ntest_interval: 20\nbase_lr: 0.5\nmomentum: 0.9\n'
        'lr_policy: "fixed"\nmax_iter: 40\nsnapshot_prefix: "snap"\n'
    )
    assert main(["caffe", "train", "--solver", str(tmp_path / "solver.prototxt"), "--json"]) == 0
    record = _json(capsys)
    assert record["iterations"] == 40 and record["scores"]["acc"] == 1.0
    # the shared engine's metrics: the train loss every display window, the test net's scores
    with (tmp_path / "solver.run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["split"] for r in rows} == {"train", "test#0"}
    # test_initialization (on by default): at 0, then every test_interval, and at the end
    assert [r["iteration"] for r in rows if r["name"] == "acc"] == ["0", "20", "40"]
    assert len([r for r in rows if r["split"] == "train" and r["name"] == "loss"]) == 2  # every 20
    # a time budget ends the run early, as a finish that keeps its snapshot
    budget = tmp_path / "budget.prototxt"
    budget.write_text(
        'net: "net.prototxt"\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 100000000\n'
        'snapshot_prefix: "budget"\n'
    )
    assert main(["caffe", "train", "--solver", str(budget), "--minutes", "0.02", "--json"]) == 0
    done = _json(capsys)["iterations"]
    assert 0 < done < 100000000
    assert (tmp_path / f"budget_iter_{done}.caffemodel").is_file()
    weights = tmp_path / "snap_iter_40.caffemodel"
    assert weights.is_file() and (tmp_path / "snap_iter_40.solverstate").is_file()
    assert main(["caffe", "test", "-m", str(tmp_path / "net.prototxt"), "--weights", str(weights),
                 "--iterations", "2", "--json"]) == 0  # fmt: skip
    assert _json(capsys)["scores"]["acc"] == 1.0
    bad = tmp_path / "bad.prototxt"
    bad.write_text("layer {\n  name: 'x'\n  type: 'ReLU'\n  colour: 3\n}\n")
    assert main(["caffe", "time", "-m", str(bad)]) == 2
    assert "bad.prototxt:4:3" in capsys.readouterr().err
    assert main(["caffe", "train", "--solver", str(tmp_path / "missing.prototxt")]) == 2


def test_caffe_convert_round_trip_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from decaf.caffe import io as cio
    from decaf.caffe.net import CaffeNet

    text = """
    layer { name: "in" type: "Input" top: "x"
      input_param { shape { dim: 1 dim: 2 dim: 5 dim: 5 } } }
    layer { name: "c" type: "Convolution" bottom: "x" top: "c"
      convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "msra" } } }
    layer { name: "bn" type: "BatchNorm" bottom: "c" top: "c" }
    """
    proto = tmp_path / "net.prototxt"
    proto.write_text(text)
    torch.manual_seed(0)
    net = CaffeNet(cio.read_net(proto))
    net.layer_by_name("bn").blobs[2].data.fill_(1.0)
    net.layer_by_name("bn").blobs[1].data.fill_(4.0)
    weights = net.save(tmp_path / "w.caffemodel")
    bundle = tmp_path / "w.pt"
    assert (
        main(["caffe", "convert", "model", str(weights), "-m", str(proto), "-o", str(bundle)]) == 0
    )
    back = tmp_path / "back.caffemodel"
    assert main(["caffe", "convert", "model", str(bundle), "-o", str(back)]) == 0
    again = CaffeNet(cio.read_net(proto))
    again.copy_from(back)
    x = torch.randn(1, 2, 5, 5)
    torch.testing.assert_close(again(x=x)["c"], net(x=x)["c"])
    capsys.readouterr()
    cut = tmp_path / "cut.caffemodel"
    cut.write_bytes(weights.read_bytes()[:40])
    assert main(["caffe", "convert", "model", str(cut), "-m", str(proto), "-o",
                 str(tmp_path / "x.pt")]) == 2  # fmt: skip
    assert "truncated or not a Caffe file" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    py = tmp_path / "py.prototxt"
    py.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 } } }\n'
                  'layer { name: "p" type: "Python" bottom: "x" top: "y" '
                  'python_param { module: "os" layer: "X" } }\n')  # fmt: skip
    assert main(["caffe", "time", "-m", str(py)]) == 2
    assert "--allow-python-layers" in capsys.readouterr().err


def test_caffe_train_sigterm_keeps_a_resumable_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative snapshot_prefix is the working folder's (Caffe)
    for k, value in enumerate((30, 220)):
        d = tmp_path / "pics" / f"c{k}"
        d.mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((6, 6, 3), value + i, np.uint8)).save(d / f"{i}.png")
    assert (
        main(["data", "convert", "lmdb", str(tmp_path / "pics"), "-o", str(tmp_path / "db")]) == 0
    )
    (tmp_path / "net.prototxt").write_text(
        'layer { name: "d" type: "Data" top: "data" top: "label"\n'
        '  data_param { source: "db" batch_size: 4 backend: LMDB } }\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"\n'
        '  inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n'
    )
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt"\nbase_lr: 0.01\nlr_policy: "fixed"\nmax_iter: 10000000\n'
        'display: 1\nsnapshot_prefix: "run"\n'
    )
    cmd = [sys.executable, "-m", "decaf", "caffe", "train", "--solver",
           str(tmp_path / "solver.prototxt")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path)  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # training has started once display lines appear
        if "Iteration" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    states = list(tmp_path.glob("run_iter_*.solverstate"))
    assert len(states) == 1 and "stopped at iteration" in out
    assert main(["caffe", "train", "--solver", str(tmp_path / "solver.prototxt"), "--snapshot",
                 str(states[0]), "--max-iter", str(int(states[0].stem.split("_")[-1]) + 3),
                 "--json"]) == 0  # fmt: skip


def test_detector_cli_train_eval_detect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "shapes"
    assert main(["data", "synth", "shapes", "-o", str(root), "--count", "8", "--val", "3",
                 "--min-size", "64", "--max-size", "72", "--json"]) == 0  # fmt: skip
    assert _json(capsys)["images"] == 8
    bundle = tmp_path / "det.pt"
    assert main(["train", "detector", str(root), "-o", str(bundle), "--iters", "2", "--batch",
                 "2", "--min-size", "64", "--max-size", "72", "--anchor-sizes", "8,16,32,64",
                 "--json"]) == 0  # fmt: skip
    assert _json(capsys)["bundle"] == str(bundle)
    from decaf.detect.predict import Detector

    assert Detector(bundle).model.rpn.anchor_generator.sizes == ((8,), (16,), (32,), (64,))
    assert main(["eval", "detector", str(bundle), str(root), "--json", "--coco"]) == 0
    report = _json(capsys)
    assert set(report["coco"]) == {"AP", "AP50", "AP75"}
    assert 0.0 <= report["mAP50"] <= 1.0 and set(report["per_class"]) == {
        "square", "circle", "triangle"}  # fmt: skip
    picture = root / "JPEGImages" / "000007.png"
    drawn = tmp_path / "boxes.png"
    assert main(["detect", str(picture), "-m", str(bundle), "--score-threshold", "0",
                 "--draw", str(drawn), "--json"]) == 0  # fmt: skip
    assert _json(capsys)["results"][0]["image"] == str(picture) and drawn.is_file()
    assert main(["train", "detector", str(root), "-o", str(bundle), "--format", "yolo"]) == 2
    assert main(["train", "detector", str(root), "-o", str(tmp_path / "a.pt"),
                 "--anchor-sizes", "8,16"]) == 2  # fmt: skip
    assert "4 anchor sizes" in capsys.readouterr().err
    assert main(["train", "detector", str(root), "-o", str(bundle), "--epochs", "1",
                 "--minutes", "1"]) == 2  # fmt: skip
    assert main(["data", "convert", "kitti-to-voc", str(root), "-o", str(tmp_path / "k")]) == 2
    assert "label_2" in capsys.readouterr().err and not (tmp_path / "k").exists()
    assert main(["train", "detector", str(tmp_path / "nope"), "-o", str(tmp_path / "x.pt")]) == 2
    assert "ImageSets" in capsys.readouterr().err
    assert main(["detect", str(picture), "-m", str(tmp_path / "nope.pt")]) == 2
