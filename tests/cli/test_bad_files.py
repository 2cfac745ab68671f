"""``--on-bad-file skip|stop``: the documented rule for unreadable pictures in a dataset.

skip (the default): the picture is left out and named at the end; stop: exit 2 naming it,
nothing written. Two kinds of bad file: one whose header is wrong (found when the set is
scanned) and one whose header is fine but whose pixels are cut off (found when decoded)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decaf.cli import main


def _dataset(root: Path, bad: str) -> Path:
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
                root / label / f"{i}.png")  # fmt: skip
    if bad == "header":
        (root / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    else:  # a real PNG cut in half: Pillow reads its header, then fails on the pixels
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
        (root / "a" / "broken.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return root


@pytest.mark.parametrize("bad", ["header", "pixels"])
@pytest.mark.parametrize("command", ["mean", "lmdb"])
def test_data_commands(tmp_path: Path, bad: str, command: str,
                       capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    data = _dataset(tmp_path / "d", bad)
    out = tmp_path / ("m.npy" if command == "mean" else "db")
    args = (["data", "mean", str(data), "-o", str(out)] if command == "mean"
            else ["data", "convert", "lmdb", str(data), "-o", str(out)])  # fmt: skip
    assert main([*args, "--on-bad-file", "stop"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error:") and "broken" in err[-1] and "--on-bad-file stop" in err[-1]
    assert not out.exists() and not list(tmp_path.glob(".db.*"))
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    if command == "lmdb":
        assert report["images"] == 6  # the broken one left out
    else:
        assert report["images"] - report["skipped"] == 6
    assert out.exists()


def test_classifier_train_and_eval_stop(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = _dataset(tmp_path / "d", "header")
    out = tmp_path / "c.pt"
    args = ["train", "classifier", str(data), "-o", str(out), "--iters", "1", "--size", "32",
            "--batch", "2"]  # fmt: skip
    assert main([*args, "--on-bad-file", "stop"]) == 2
    assert "broken.jpg" in capsys.readouterr().err and not out.exists()
    assert main(args) == 0 and out.exists()
    capsys.readouterr()
    assert main(["eval", "classifier", str(out), str(data), "--on-bad-file", "stop"]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["eval", "classifier", str(out), str(data), "--on-bad-file", "maybe"]) == 2
    assert "skip, stop" in capsys.readouterr().err
