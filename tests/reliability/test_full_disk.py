"""A full disk while writing (simulated with RLIMIT_FSIZE, the per-process file-size limit):
a clear error, the previous file intact and loadable, no partial file at the target."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 20_000  # bytes: a small picture fits, a 256² noise PNG or a big bundle does not


def _limited() -> None:  # runs in the child before it starts
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run(args: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(args, preexec_fn=_limited, env=env, capture_output=True, text=True,
                          timeout=300, cwd=ROOT)  # fmt: skip


def test_a_picture_that_does_not_fit_keeps_the_old_one(tmp_path: Path) -> None:
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    cmd = [sys.executable, "-m", "decaf", "stylize", str(tmp_path / "in.png"), "--method",
           "fast", "--size", "256", "-o", str(out)]  # fmt: skip
    run = _run(cmd)
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    errors = [x for x in run.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "out.png" in errors[0] and "File too large" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png"]  # no partial, no temp
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out)
    before = out.read_bytes()
    assert _run(cmd).returncode == 2
    assert out.read_bytes() == before  # the previous result is intact


def test_a_snapshot_that_does_not_fit_keeps_the_previous_one(tmp_path: Path) -> None:
    code = (
        "import sys, torch\n"
        "from decaf.core.bundle import SNAPSHOT_FORMAT, save_checked\n"
        "size = int(sys.argv[2])\n"
        "save_checked({'weights': torch.ones(size)}, sys.argv[1], SNAPSHOT_FORMAT)\n"
    )
    dest = tmp_path / "iter_00000010.pt"
    assert _run([sys.executable, "-c", code, str(dest), "100"]).returncode == 0
    run = _run([sys.executable, "-c", code, str(dest), "1000000"])  # 4 MB: over the limit
    assert run.returncode != 0 and "WriteError" in run.stderr and "File too large" in run.stderr
    from decaf.core.bundle import SNAPSHOT_FORMAT, load_checked

    assert load_checked(dest, SNAPSHOT_FORMAT)["weights"].numel() == 100  # the old one loads
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]  # no temporary left


def test_an_lmdb_that_does_not_fit_is_one_error_and_leaves_nothing(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(20):  # 20 × 12 kB of noise: over the limit
        (tmp_path / "src" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)).save(
            tmp_path / "src" / f"c{i % 2}" / f"{i}.png"
        )
    db = tmp_path / "db"
    run = _run([sys.executable, "-m", "decaf", "data", "convert", "lmdb", str(tmp_path / "src"),
                "-o", str(db)])  # fmt: skip
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-2000:]
    errors = [x for x in run.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and str(db) in errors[0] and "not written" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no database, no temporary
