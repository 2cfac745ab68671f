"""The CLI's shape: it only parses and prints, and its flags read the same on every command."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from decaf.cli import main

CLI = Path(__file__).resolve().parents[2] / "src" / "decaf" / "cli"
FORBIDDEN = ("torch", "numpy", "PIL", "cv2", "torchvision", "timm")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("module", sorted(p.name for p in CLI.glob("*.py")))
def test_cli_modules_import_no_array_or_network_library(module: str) -> None:
    assert not _imports(CLI / module) & set(FORBIDDEN)


def test_cli_modules_do_not_import_each_other_beyond_common() -> None:
    for path in CLI.glob("*.py"):
        if path.name in ("__init__.py", "app.py"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("decaf.cli."):
                assert node.module == "decaf.cli.common", f"{path.name} imports {node.module}"


def test_version_short_help_and_no_percent_signs(capsys: pytest.CaptureFixture[str]) -> None:
    from decaf import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"decaf {__version__}"
    commands = [["stylize"], ["classify"], ["detect"], ["train", "classifier"],
                ["train", "detector"], ["train", "style"], ["eval", "classifier"],
                ["eval", "detector"], ["data", "mean"], ["data", "convert", "lmdb"],
                ["data", "convert", "kitti-to-voc"], ["data", "synth", "shapes"],
                ["data", "synth", "photo-styles"], ["caffe", "train"], ["caffe", "test"],
                ["caffe", "time"], ["caffe", "convert", "model"], ["caffe", "convert", "mean"],
                ["zoo", "list"], ["export", "onnx"]]  # fmt: skip
    for argv in [["-h"]] + [[*c, "-h"] for c in commands]:
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "Usage" in out and "%%" not in out and "<bool>" not in out.lower()
        if len(argv) > 1:
            assert "Example" in out, argv


def test_short_flags_mean_one_thing_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    """-m is a model (bundle or prototxt), -o the output, -s the style: wherever they exist."""
    meanings = {"-m": "--model", "-o": "--output", "-s": "--style", "-q": "--quiet"}
    commands = [["stylize"], ["classify"], ["detect"], ["train", "classifier"],
                ["train", "detector"], ["train", "style"], ["caffe", "time"], ["caffe", "test"],
                ["caffe", "train"], ["data", "mean"], ["data", "convert", "lmdb"],
                ["data", "synth", "shapes"], ["export", "onnx"]]  # fmt: skip
    for argv in commands:
        main([*argv, "--help"])
        out = capsys.readouterr().out
        for short, long in meanings.items():
            for line in (raw for raw in out.splitlines() if raw.strip().startswith("-")):
                if f" {short} " in f" {line.replace(',', ' ')} ":
                    assert long in line, f"{argv}: {short} on {line.strip()!r}"


def test_piped_tables_are_not_cut_at_80_columns() -> None:
    out = subprocess.run([sys.executable, "-m", "decaf", "zoo", "list", "efficientnet_lite*"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "efficientnet_lite0" in out and "…" not in out


def test_stylize_refuses_what_it_used_to_ignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "x.png")
    assert main(["stylize", "--alpha", "0.5", "-o", out]) == 2
    assert "--alpha do(es) not apply to --method gatys" in capsys.readouterr().err
    assert main(["stylize", "--method", "fast", "--steps", "5", "-o", out]) == 2
    assert "--steps do(es) not apply to --method fast" in capsys.readouterr().err
    folder = tmp_path / "pics"
    folder.mkdir()
    assert main(["stylize", str(folder), "-o", str(tmp_path / "o")]) == 2
    assert "use --method fast, adain or wct" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "o").exists()
