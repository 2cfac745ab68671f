"""Run under torchrun by test_distributed.py: train the toy task and save this rank's weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from decaf.train import distributed
from decaf.train.loop import LoopConfig, Trainer
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig
from tests.train.toy import NoisyPoints, mse_step, toy_net


def main(out: Path, iters: int, batch: int) -> None:
    torch.set_num_threads(1)
    world = distributed.setup()
    # each rank starts from different weights: DDP must broadcast rank 0's
    net = toy_net(0.0, seed=world.rank)
    solver = SolverConfig(lr=LRPolicy("step", base_lr=0.05, gamma=0.5, stepsize=3), iter_size=2)
    loop = LoopConfig(max_iter=iters, batch_size=batch, out_dir=out, snapshot_interval=iters)
    result = Trainer(net, NoisyPoints(), mse_step, solver, loop).fit()
    torch.save(net.state_dict(), out / f"rank{world.rank}.pt")
    torch.save(torch.tensor(result.images), out / f"images{world.rank}.pt")
    distributed.teardown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
