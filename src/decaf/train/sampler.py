"""Batches that know where they are: exact data position for resume, per-sample random seeds.

Exact resume needs two things a stock ``DataLoader`` does not give. (1) The *position*: which
batch of which epoch comes next. :class:`ResumableBatchSampler` draws each epoch's order from
``seed`` and the epoch number alone, and can start at any batch. (2) The *augmentation
randomness*: workers normally seed themselves from a base seed drawn when the iterator starts,
so a resumed run would crop and flip differently. Here each sample carries its own seed,
derived from (seed, epoch, index); :class:`KeyedDataset` applies it around one ``__getitem__``.
A sample is therefore transformed the same way whatever the worker count, the resume point or
the process — which also makes runs with 0 and 4 workers identical.

For data-parallel training every rank walks the same permutation and takes its own slice of each
global batch (``batch_size`` per rank), as ``DistributedSampler`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from decaf.core.errors import OptionError

Key = tuple[int, int]  # (index into the dataset, seed for its random transforms)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 63-bit seed for one (seed, epoch, index) triple (splitmix64 finaliser)."""
    z = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & 0x7FFFFFFFFFFFFFFF


class ResumableBatchSampler(Sampler[list[Key]]):
    """Yields this rank's batches of :data:`Key`; set :attr:`epoch` and :attr:`start_batch` first.

    Every batch is full: when the data do not fill a last global batch it is dropped (as Caffe's
    cursor would roll over), and a dataset smaller than one global batch is repeated to fill it.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if size <= 0:
            raise OptionError("the training set is empty")
        if batch_size <= 0:
            raise OptionError(f"batch size must be ≥ 1, got {batch_size}")
        self.size = size
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.start_batch = 0

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def __len__(self) -> int:
        return max(1, self.size // self.global_batch)

    def order(self, epoch: int) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(sample_seed(self.seed, epoch, -1))
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        while len(order) < self.global_batch:
            order = order + order
        return order

    def __iter__(self) -> Iterator[list[Key]]:
        epoch, start = self.epoch, self.start_batch
        order = self.order(epoch)
        gb, b = self.global_batch, self.batch_size
        for k in range(start, len(self)):
            chunk = order[k * gb : (k + 1) * gb][self.rank * b : (self.rank + 1) * b]
            yield [(i, sample_seed(self.seed, epoch, i)) for i in chunk]


class KeyedDataset(Dataset):
    """Wraps a map-style dataset so ``ds[(index, seed)]`` draws its randomness from ``seed``.

    The global CPU generator is saved and restored around the call, so the caller's random state
    is untouched (this matters with ``num_workers=0``, where loading runs in the training
    process). This is done on the generator directly: ``torch.random.fork_rng`` plus
    ``torch.manual_seed`` also visit every accelerator backend and cost ~60× more per sample.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: Key) -> Any:
        index, seed = key
        gen = torch.default_generator
        state = gen.get_state()
        gen.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            gen.set_state(state)
