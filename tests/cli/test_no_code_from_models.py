"""Every command that takes a model refuses a pickle that would run code: the bundle loader
reads with ``weights_only=True``, and the code never runs (a marker file is never made)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from decaf.cli import main


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):  # noqa: ANN204 - what an attacker's file does on unpickling
        return (os.makedirs, (self.marker,))


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"format": "decaf-bundle", "task": "classify", "x": _Evil(marker)}, path)
    return path, marker


COMMANDS = [
    ["classify", "{pic}", "-m", "{evil}"],
    ["detect", "{pic}", "-m", "{evil}"],
    ["annotate", "{pic}", "--classifier", "{evil}", "--features", "labels"],
    ["annotate", "{pic}", "--detector", "{evil}", "--features", "objects"],
    ["stylize", "{pic}", "--method", "fast", "--model", "{evil}", "-o", "{out}"],
    ["eval", "detector", "{evil}", "{tmp}"],
    ["export", "onnx", "-m", "{evil}", "-o", "{tmp}/x.onnx"],
    ["eval", "classifier", "{evil}", "{tmp}"],
    [
        "train",
        "classifier",
        "{data}",
        "-o",
        "{tmp}/c.pt",
        "--resume",
        "{evil}",
        "--iters",
        "1",
        "--size",
        "32",
    ],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_model_pickles_cannot_run_code(args: list[str], evil: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:  # fmt: skip
    path, marker = evil
    pic = tmp_path / "pic.png"
    Image.new("RGB", (32, 32), (90, 120, 30)).save(pic)
    for label in ("a", "b"):  # a tiny labelled folder for the commands that read one
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (32, 32), (40 * i, 90, 30)).save(
                tmp_path / "data" / label / f"{i}.png"
            )
    filled = [a.format(pic=pic, evil=path, out=tmp_path / "o.png", tmp=tmp_path,
                       data=tmp_path / "data") for a in args]  # fmt: skip
    code = main(filled)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith("error:") and "Traceback" not in err
    assert not marker.exists()
