"""Multi-process data-parallel training under ``torchrun`` (gloo on CPU, NCCL on GPUs).

``torchrun --nproc-per-node N -m decaf train …`` starts N processes with ``RANK``/``WORLD_SIZE``
in their environment; :func:`setup` joins them into one process group and the engine wraps the
model in ``DistributedDataParallel``. A plain ``python`` run is a world of one and none of this
is touched.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def setup() -> World:
    """Join the process group described by torchrun's environment; a world of one otherwise."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":  # one GPU per process, so collectives find theirs
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return World(
        rank=dist.get_rank(),
        size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def any_rank(flag: bool, world: World) -> bool:
    """True when ``flag`` is true on any rank (so all ranks stop at the same iteration)."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def collective_device() -> torch.device:
    """Where a collective's tensors must live: NCCL refuses CPU tensors, gloo takes them."""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def teardown() -> None:
    """Leave the process group together: a rank that destroys its group while a peer is still
    finishing (saving a snapshot, say) can abort at exit inside gloo's threads.

    The garbage collection first: a DistributedDataParallel wrapper caught in a reference
    cycle keeps the group alive, and if the collector only frees it during interpreter
    shutdown, the group's worker threads are torn down there, which can end in "terminate
    called without an active exception" (a suspected cause of a rare abort in
    tests/train/test_distributed.py, not yet proven)."""
    if dist.is_initialized():
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
        gc.collect()
