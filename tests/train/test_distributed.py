from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from decaf.train.loop import LoopConfig, Trainer
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig
from tests.train.toy import NoisyPoints, mse_step, toy_net

ROOT = Path(__file__).resolve().parents[2]


def test_two_processes_hold_identical_weights_equal_to_one_big_batch(tmp_path: Path) -> None:
    """torchrun, 2 gloo processes × batch 4 × iter_size 2 == 1 process × batch 8 × iter_size 2."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(ROOT / "tests" / "train" / "ddp_worker.py"),
        str(tmp_path),
        "6",
        "4",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt")
    w1 = torch.load(tmp_path / "rank1.pt")
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    assert int(torch.load(tmp_path / "images0.pt")) == 6 * 2 * 8  # global images seen
    # only rank 0 writes snapshots
    assert [p.name for p in (tmp_path / "snapshots").iterdir()] == ["iter_00000006.pt"]

    solver = SolverConfig(lr=LRPolicy("step", base_lr=0.05, gamma=0.5, stepsize=3), iter_size=2)
    single = toy_net(0.0, seed=0)
    Trainer(single, NoisyPoints(), mse_step, solver, LoopConfig(max_iter=6, batch_size=8)).fit()
    for k, v in single.state_dict().items():
        torch.testing.assert_close(w0[k], v, rtol=1e-5, atol=1e-6)
    start = toy_net(0.0, seed=0).state_dict()
    assert not torch.equal(start["0.weight"], w0["0.weight"])
