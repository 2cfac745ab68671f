"""kill -9 of every trainer command at a random moment, then its own resume: the final weights
equal an uninterrupted run's, bit for bit, and every snapshot left on disk is whole.

test_kill.py proves it for the shared engine; this proves that each command wires the engine
up so (its data order, augmentation and schedules are restored, not only the weights).

``caffe train`` resumes as Caffe does: a ``.solverstate`` holds the iteration, the weights and
the momentum, not the data cursor or the random state, so the data layers start again from the
first record and the random generators from ``random_seed``. Its guarantee is that resuming is
repeatable: two resumes from the snapshot a kill left end in the same weights, bit for bit."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decaf.core.bundle import load_bundle

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DECAF = [sys.executable, "-m", "decaf"]


@dataclass(frozen=True)
class Trainer:
    """How one command is run, killed and resumed on data made in ``data``."""

    make_data: Callable[[Path], None]
    args: Callable[[Path], list[str]]  # the whole run, to the final file
    snapshots: Callable[[Path], Path]  # where its snapshots appear
    resume: Callable[[Path], list[str]]  # the arguments that continue it
    final: Callable[[Path], Path]
    exact: bool = True  # resume equals the uninterrupted run (else: resumes are repeatable)


def _classifier_data(d: Path) -> None:
    from decaf.data.synthetic import photo_styles

    photo_styles(d / "styles", per_class=4, size=40, looks=["noir", "bright"], seed=4)


def _shapes(d: Path) -> None:
    from decaf.data.synthetic import shapes

    shapes(d / "shapes", count=6, val=2, size=(64, 64), seed=1)


def _caffe_data(d: Path) -> None:
    from decaf.cli import main

    for k, value in enumerate((30, 220)):
        (d / "pics" / f"c{k}").mkdir(parents=True)
        for i in range(8):
            picture = Image.fromarray(np.full((10, 10, 3), value + i, np.uint8))
            picture.save(d / "pics" / f"c{k}" / f"{i}.png")
    assert main(["data", "convert", "lmdb", str(d / "pics"), "-o", str(d / "db"),
                 "--gray", "--resize", "8x8", "--shuffle"]) == 0  # fmt: skip
    (d / "net.prototxt").write_text(
        f'layer {{ name: "d" type: "Data" top: "data" top: "label" transform_param {{ scale: 0.004 '
        f'mirror: true }} data_param {{ source: "{d / "db"}" batch_size: 4 backend: LMDB }} }}\n'
        'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"\n'
        '  inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }\n'
        'layer { name: "drop" type: "Dropout" bottom: "ip" top: "ip" }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n'
    )
    (d / "solver.prototxt").write_text(
        f'net: "{d / "net.prototxt"}"\nbase_lr: 0.1\nmomentum: 0.9\nlr_policy: "step"\n'
        f"gamma: 0.5\nstepsize: 300\nmax_iter: 1000\nsnapshot: 100\n"
        f'snapshot_prefix: "{d / "snap"}"\nrandom_seed: 3\n'
    )


def _latest_state(d: Path) -> Path:
    return max(d.glob("snap_iter_*.solverstate"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))


def _engine(make_data: Callable[[Path], None], name: str, *args: str) -> Trainer:
    """A trainer on the shared engine: ``-o NAME.pt``, snapshots in ``NAME.run/snapshots``,
    resumed with ``--resume NAME.run``."""
    return Trainer(
        make_data,
        lambda d: [*(a.format(d=d) for a in args), "-o", str(d / f"{name}.pt")],
        lambda d: d / f"{name}.run" / "snapshots",
        lambda d: ["--resume", str(d / f"{name}.run")],
        lambda d: d / f"{name}.pt",
    )


TRAINERS = {
    "classifier": _engine(
        _classifier_data,
        "m",
        "train",
        "classifier",
        "{d}/styles",
        "--size",
        "40",
        "--batch",
        "4",
        "--workers",
        "0",
        "--iters",
        "24",
        "--snapshot",
        "2",
    ),  # fmt: skip
    "detector": _engine(
        _shapes,
        "det",
        "train",
        "detector",
        "{d}/shapes",
        "--iters",
        "10",
        "--batch",
        "2",
        "--min-size",
        "64",
        "--max-size",
        "64",
        "--snapshot",
        "1",
        "--scratch",
    ),  # fmt: skip
    "style": _engine(
        lambda d: None,
        "st",
        "train",
        "style",
        "-s",
        "mosaic",
        "--iters",
        "16",
        "--batch",
        "2",
        "--size",
        "64",
        "--style-size",
        "64",
        "--width",
        "8",
        "--snapshot",
        "2",
    ),  # fmt: skip
    "caffe": Trainer(
        _caffe_data,
        lambda d: ["caffe", "train", "--solver", str(d / "solver.prototxt")],
        lambda d: d,
        lambda d: ["--snapshot", str(_latest_state(d))],
        lambda d: d / "snap_iter_1000.caffemodel",
        exact=False,
    ),
}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _weights(path: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor a final file holds, by name: a bundle's state, or a caffemodel's blobs."""
    if path.suffix == ".caffemodel":
        from decaf.caffe.io import blobproto_to_array, read_weights

        for layer in read_weights(path).layer:
            for k, blob in enumerate(layer.blobs):
                yield f"{layer.name}.{k}", torch.from_numpy(blobproto_to_array(blob))
        return

    def walk(prefix: str, x: object) -> Iterator[tuple[str, torch.Tensor]]:
        if isinstance(x, torch.Tensor):
            yield prefix, x
        elif isinstance(x, dict):
            for k, v in x.items():
                yield from walk(f"{prefix}.{k}", v)

    yield from walk("", load_bundle(path))


def _snapshot_files(d: Path) -> list[Path]:
    return [p for p in d.iterdir() if p.suffix in (".pt", ".solverstate", ".caffemodel")]


@pytest.fixture(scope="module", params=sorted(TRAINERS))
def straight(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    name = request.param
    spec, d = TRAINERS[name], tmp_path_factory.mktemp(f"straight_{name}")
    spec.make_data(d)
    run = subprocess.run([*DECAF, *spec.args(d)], env=_env(), cwd=d, capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return name, dict(_weights(spec.final(d)))


def _resume(spec: Trainer, d: Path, resume: list[str]) -> dict[str, torch.Tensor]:
    resumed = subprocess.run([*DECAF, *spec.args(d), *resume], env=_env(), cwd=d,
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return dict(_weights(spec.final(d)))


def test_kill_9_then_resume_gives_the_uninterrupted_weights(
    straight: tuple[str, dict[str, torch.Tensor]], tmp_path: Path
) -> None:
    """One kill per command, at a moment drawn per command (a second kill point per command
    cost two minutes of the suite and never failed where the first passed)."""
    name, expected = straight
    spec = TRAINERS[name]
    spec.make_data(tmp_path)
    proc = subprocess.Popen([*DECAF, *spec.args(tmp_path)], env=_env(), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    snapshots, deadline = spec.snapshots(tmp_path), time.monotonic() + 300
    while not (snapshots.is_dir() and _snapshot_files(snapshots)):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the run never snapshotted"
        time.sleep(0.01)
    time.sleep(random.Random(name).uniform(0.0, 1.0))  # somewhere in the next iterations
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not spec.final(tmp_path).exists(), "killed too late: the run had finished"
    for snap in _snapshot_files(snapshots):  # whole: each one loads
        if snap.suffix == ".pt":
            from decaf.core.bundle import SNAPSHOT_FORMAT, load_checked

            load_checked(snap, SNAPSHOT_FORMAT)
        elif snap.suffix == ".caffemodel":
            dict(_weights(snap))
    resume = spec.resume(tmp_path)
    got = _resume(spec, tmp_path, resume)
    if not spec.exact:
        expected = _resume(spec, tmp_path, resume)
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        assert torch.equal(got[k], v), f"{name}: {k} differs after kill -9 and resume"
