"""Every hostile input of the corpus through the command that reads it: exit 2, one ``error:``
line naming the file, no traceback, nothing written at the output path. Odd but valid pictures
work."""

from __future__ import annotations

from pathlib import Path

import pytest

from decaf.cli import main
from tests.reliability.corpus import DEPLOY, bad_files, odd_pictures

SOLVER_NET = """name: "s"
layer { name: "d" type: "DummyData" top: "x" top: "y"
  dummy_data_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip"
  inner_product_param { num_output: 2 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "y" top: "loss" }
"""
DATA_NET = """name: "d"
layer {{ name: "d" type: "Data" top: "x" top: "y"
  data_param {{ source: "{source}" batch_size: 2 }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "x" top: "ip"
  inner_product_param {{ num_output: 2 }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "y" top: "loss" }}
"""


#: what each kind's commands would write
SUFFIX = {"prototxt": ".pt", "caffemodel": ".pt", "voc": ".pt", "coco": ".pt",
          "binaryproto": ".npy", "list": ".npy"}  # fmt: skip


def _solver(root: Path, net_text: str, name: str) -> Path:
    (root / f"{name}.prototxt").write_text(net_text)
    solver = root / f"{name}_solver.prototxt"
    solver.write_text(f'net: "{name}.prototxt"\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 1\n'
                      f'snapshot_prefix: "{root / name}"\n')  # fmt: skip
    return solver


def _commands(kind: str, path: Path, out: Path, root: Path) -> list[list[str]]:
    """The commands that read a file of this kind, writing (if at all) to ``out``."""
    ok = str(root / "ok.png")
    if kind == "image":
        return [["classify", str(path)], ["stylize", str(path), "--method", "fast", "-o", str(out)],
                ["annotate", str(path), "--features", "labels"]]  # fmt: skip
    if kind == "prototxt":
        return [["caffe", "time", "-m", str(path), "--iterations", "1"],
                ["caffe", "convert", "model", str(root / "w.caffemodel"), "-m", str(path),
                 "-o", str(out)]]  # fmt: skip
    if kind == "caffemodel":
        return [["caffe", "convert", "model", str(path), "-m", str(root / "deploy.prototxt"),
                 "-o", str(out)],
                ["caffe", "time", "-m", str(root / "deploy.prototxt"), "--weights", str(path),
                 "--iterations", "1"]]  # fmt: skip
    if kind == "binaryproto":
        return [["caffe", "convert", "mean", str(path), "-o", str(out)]]
    if kind == "solverstate":
        return [["caffe", "train", "--solver", str(_solver(root, SOLVER_NET, "dummy")),
                 "--snapshot", str(path)]]  # fmt: skip
    if kind in ("lmdb", "leveldb"):
        solver = _solver(root, DATA_NET.format(source=path), f"data_{kind}")
        return [
            ["caffe", "train", "--solver", str(solver)],
            ["data", "convert", "lmdb", str(path), "-o", str(out)],
        ]
    if kind in ("voc", "coco"):
        return [["train", "detector", str(path), "--format", kind, "-o", str(out), "--iters", "1",
                 "--min-size", "32", "--max-size", "32"]]  # fmt: skip
    if kind == "list":
        return [
            ["data", "mean", str(path), "-o", str(out)],
            ["data", "convert", "lmdb", str(path), "-o", str(out), "--on-bad-file", "stop"],
        ]
    if kind == "bundle":
        return [
            ["classify", ok, "-m", str(path)],
            ["detect", ok, "-m", str(path)],
            ["stylize", ok, "--method", "fast", "--model", str(path), "-o", str(out)],
        ]
    if kind == "video":
        return [["stylize", str(path), "--method", "fast", "-o", str(out)]]
    raise AssertionError(kind)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    root = tmp_path_factory.mktemp("corpus")
    files = bad_files(root)
    (root / "deploy.prototxt").write_text(DEPLOY)
    from decaf.caffe import io as cio
    from decaf.caffe.net import CaffeNet

    CaffeNet(cio.read_net(DEPLOY)).save(root / "w.caffemodel")
    return root, files


def _cases() -> list[tuple[str, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [(kind, name) for kind, name, _ in bad_files(Path(tmp))]


@pytest.mark.parametrize(("kind", "name"), _cases())
def test_a_bad_input_is_one_clear_error(corpus: tuple[Path, list], kind: str, name: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    root, files = corpus
    path = next(p for k, n, p in files if (k, n) == (kind, name))
    out = root / f"out_{kind}_{Path(name).stem}{SUFFIX.get(kind, '.png')}"
    for args in _commands(kind, path, out, root):
        code = main(args)
        captured = capsys.readouterr()
        lines = [x for x in captured.err.splitlines() if x.strip()]
        errors = [x for x in lines if x.startswith("error:")]
        assert code == 2, (args, captured.err[-1500:])
        assert "Traceback" not in captured.err, args
        assert len(errors) == 1, (args, lines)
        assert path.name in errors[0] or path.stem in errors[0], (args, errors[0])
        assert not out.exists(), (args, "something was written")


@pytest.mark.parametrize("index", range(7))
def test_odd_but_valid_pictures_work(tmp_path: Path, index: int,
                                     capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    kind, path, size = odd_pictures(tmp_path)[index]
    from decaf.core.images import load_image

    assert load_image(path).size == size, kind
    out = tmp_path / "styled.png"
    assert main(["stylize", str(path), "--method", "fast", "-o", str(out)]) == 0, kind
    from PIL import Image

    assert Image.open(out).size == size, kind  # EXIF orientation applied, all frames read once
