"""A tiny regression task for engine tests: random augmentation, dropout, no BatchNorm."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset


class NoisyPoints(Dataset):
    """Fixed points whose every read adds fresh noise from the global torch RNG (augmentation)."""

    def __init__(self, n: int = 40, dim: int = 6, noise: float = 0.1) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, dim, generator=g)
        self.y = self.x @ torch.randn(dim, 1, generator=g)
        self.noise = noise

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i] + self.noise * torch.randn_like(self.x[i]), self.y[i]


def toy_net(dropout: float = 0.2, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 1))


def mse_step(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    x, y = batch
    return {"loss": nn.functional.mse_loss(net(x), y)}
