"""Training and evaluation transforms (torchvision.transforms.v2) in a backbone's normalization.

Evaluation follows the ImageNet convention the zoo's weights were trained with: resize the short
side to ``size / crop_pct`` and take the centre ``size`` crop. Training uses a random resized crop
and a horizontal flip; ``scale`` bounds the crop area. For *style* recognition keep crops large
(the default 0.35–1): a tiny crop of a photo no longer shows its look.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

CROP_PCT = 0.875


def _tail(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]


def train_transform(
    size: int,
    mean: Sequence[float],
    std: Sequence[float],
    scale: tuple[float, float] = (0.35, 1.0),
    flip: bool = True,
) -> v2.Compose:
    ops: list[v2.Transform] = [v2.ToImage(), v2.RandomResizedCrop(size, scale=scale)]
    if flip:
        ops.append(v2.RandomHorizontalFlip())
    return v2.Compose(ops + _tail(mean, std))


def eval_transform(
    size: int, mean: Sequence[float], std: Sequence[float], crop_pct: float = CROP_PCT
) -> v2.Compose:
    return v2.Compose(
        [v2.ToImage(), v2.Resize(round(size / crop_pct)), v2.CenterCrop(size), *_tail(mean, std)]
    )


class TenCrop:
    """Caffe classify.py's oversampling: 4 corners + centre and their mirrors → (10, C, H, W).

    A class rather than a ``v2.Lambda`` so it pickles into DataLoader workers.
    """

    def __init__(
        self, size: int, mean: Sequence[float], std: Sequence[float], crop_pct: float = CROP_PCT
    ) -> None:
        self.resize = v2.Compose([v2.ToImage(), v2.Resize(round(size / crop_pct))])
        self.crops = v2.TenCrop(size)
        self.tail = v2.Compose(_tail(mean, std))

    def __call__(self, img: object) -> torch.Tensor:
        return torch.stack([self.tail(c) for c in self.crops(self.resize(img))])
