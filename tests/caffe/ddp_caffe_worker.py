"""Run under torchrun by test_solver.py: a Caffe solver on 2 ranks; save this rank's weights."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from decaf.caffe.solver import Solver
from decaf.train import distributed


def main(solver: Path, iters: int) -> None:
    torch.set_num_threads(1)
    s = Solver(solver)
    s.step(iters)
    state = {n: p.detach().clone() for n, p in s.net.named_parameters()}
    torch.save(state, solver.parent / f"rank{s.world.rank}.pt")
    distributed.teardown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
