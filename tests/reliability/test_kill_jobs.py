"""kill -9 during the jobs that write something other than snapshots: the target is absent or
complete, never partial, and running the same command again finishes the job (a folder
stylization keeps the pictures already done)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DECAF = [sys.executable, "-m", "decaf"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _decaf(*args: str) -> dict:
    run = subprocess.run([*DECAF, *args, "--json"], env=_env(), capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _kill_when(args: list[str], started: Callable[[], bool], seed: int, spread: float) -> None:
    """Start ``decaf ARGS``, wait until ``started()``, then kill -9 it a random moment later."""
    proc = subprocess.Popen([*DECAF, *args], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 300
    while not started():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the job never started writing"
        time.sleep(0.005)
    time.sleep(random.Random(seed).uniform(0.0, spread))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the job ended before the kill"


def _pictures(folder: Path, count: int, size: int = 160) -> Path:
    rng = np.random.default_rng(0)
    for i in range(count):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), np.uint8)).save(sub / f"{i}.png")
    return folder


def test_folder_stylization_killed_keeps_done_pictures_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    src = _pictures(tmp_path / "src", 10)
    straight = _decaf("stylize", str(src), "--method", "fast", "-o", str(tmp_path / "straight"))
    out = tmp_path / "out"
    _kill_when(["stylize", str(src), "--method", "fast", "-o", str(out)],
               lambda: len(list(out.rglob("*.png"))) >= 2, seed=1, spread=0.3)  # fmt: skip
    done = sorted(out.rglob("*.png"))
    assert 2 <= len(done) < 10, len(done)
    for picture in done:  # whole: each one decodes
        Image.open(picture).load()
    again = _decaf("stylize", str(src), "--method", "fast", "-o", str(out))
    assert len(again["kept"]) == len(done) and len(again["written"]) == 10 - len(done)
    for picture in straight["written"]:
        rel = Path(picture).relative_to(tmp_path / "straight")
        assert np.array_equal(np.asarray(Image.open(picture)), np.asarray(Image.open(out / rel)))
    # other settings into the same folder: nothing is kept from the first run
    other = _decaf("stylize", str(src), "--method", "fast", "--size", "96", "-o", str(out))
    assert other["kept"] == [] and len(other["written"]) == 10


def test_video_stylization_killed_leaves_no_partial_video(tmp_path: Path) -> None:
    video = tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (128, 96))
    for i in range(40):
        frame = np.zeros((96, 128, 3), np.uint8)
        cv2.circle(frame, (10 + 2 * i, 48), 12, (40, 200, 240), -1)
        writer.write(frame)
    writer.release()
    out = tmp_path / "out.avi"
    partial = tmp_path / ".out.partial.avi"
    _kill_when(["stylize", str(video), "--method", "fast", "-o", str(out)], partial.exists,
               seed=2, spread=0.1)  # fmt: skip
    # absent, or (the kill landed after the rename, as it can on an idle machine) complete
    assert not out.exists() or int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    info = _decaf("stylize", str(video), "--method", "fast", "-o", str(out))
    assert info["frames"] == 40
    assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == 40


def test_data_convert_killed_leaves_no_partial_database_and_a_rerun_finishes(
    tmp_path: Path,
) -> None:
    from decaf.caffe.data import iter_records

    n = 1200  # long enough that the kill usually lands mid-write
    src = _pictures(tmp_path / "src", n, size=64)
    db = tmp_path / "db"
    _kill_when(["data", "convert", "lmdb", str(src), "-o", str(db)],
               lambda: any(tmp_path.glob(".db.*")), seed=3, spread=0.5)  # fmt: skip
    # absent, or (the kill landed after the rename, as it can on an idle machine) complete
    if db.exists():
        assert sum(1 for _ in iter_records(db)) == n
        return
    assert _decaf("data", "convert", "lmdb", str(src), "-o", str(db))["images"] == n
    assert sum(1 for _ in iter_records(db)) == n


# one kill point: the graph is written whole or not at all wherever the kill lands
@pytest.mark.parametrize("seed", [4])
def test_export_onnx_killed_leaves_no_partial_graph(tmp_path: Path, seed: int) -> None:
    import onnxruntime as ort

    out = tmp_path / "fast.onnx"
    _kill_when(["export", "onnx", "-o", str(out)],
               lambda: any(tmp_path.glob(".fast.onnx.*")), seed=seed, spread=0.4)  # fmt: skip
    if out.exists():  # complete, or not there at all
        ort.InferenceSession(str(out))
    _decaf("export", "onnx", "-o", str(out))
    session = ort.InferenceSession(str(out))
    assert [i.name for i in session.get_inputs()] == ["image", "style"]
