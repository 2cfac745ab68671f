"""Run by test_kill.py: the shared training engine on the toy task, snapshotting every few
iterations, slowly enough to be killed at a random moment (or resumed, with ``--resume``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from decaf.train.loop import LoopConfig, Trainer
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig
from tests.train.toy import NoisyPoints, mse_step, toy_net

ITERS, EVERY = 24, 3
SOLVER = SolverConfig(type="sgd", lr=LRPolicy("step", base_lr=0.05, gamma=0.5, stepsize=7),
                      weight_decay=1e-4)  # fmt: skip


def slow_step(net: torch.nn.Module, batch: object) -> dict[str, torch.Tensor]:
    time.sleep(0.02)  # room for a kill between snapshots
    return mse_step(net, batch)  # type: ignore[arg-type]


def trainer(out: Path | None) -> Trainer:
    loop = LoopConfig(max_iter=ITERS, batch_size=8, out_dir=out, snapshot_interval=EVERY)
    return Trainer(toy_net(seed=0), NoisyPoints(), slow_step, SOLVER, loop)


if __name__ == "__main__":
    torch.set_num_threads(1)
    t = trainer(Path(sys.argv[1]))
    t.fit(resume=Path(sys.argv[1]) if "--resume" in sys.argv else None)
    torch.save(t.model.state_dict(), Path(sys.argv[1]) / "final.pt")
