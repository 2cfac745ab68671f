"""A varied stream of style pictures, for training decoders that must draw *any* style.

Offline there is no WikiArt. A decoder trained on ten styles learns those ten; shown a painting
it has not seen, it draws one of them. So the styles a decoder learns from here are made many:

* a pool of the procedural painters (:mod:`decaf.stylize.procedural`) at many seeds (each seed
  lays out its own vortices, tiles, dabs and hatching) and sizes (the stroke size relative to
  the crop), beside the given style pictures (for the shipped decoder, the procedural styles
  and scikit-image's textures);
* each crop of the pool is then, at random, repainted with a random palette (its tones mapped
  onto 2–6 random colours, in brightness order or not), turned by a multiple of 90° or
  mirrored (stroke directions), and cut at 30–100 % of the picture's side (stroke sizes).

Randomness comes from torch's generator, which the training engine seeds (runs repeat).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from decaf.core.tensors import picture_tensor
from decaf.stylize.procedural import BUILTIN_STYLES, builtin_style

#: chance that a crop is repainted with a random palette
REPAINT = 0.5


def style_pool(pictures: Sequence[Image.Image], painters: int, side: int,
               seed: int = 0) -> list[torch.Tensor]:  # fmt: skip
    """``pictures`` (scaled to ``side``) and ``painters`` procedural paintings: the painter
    cycles through the built-in ones, the seed counts up from ``seed``, and the size is drawn
    between ``side`` / 2 and 2 · ``side`` before scaling to ``side`` (finer or coarser strokes)."""
    rng = torch.Generator().manual_seed(seed)
    pool = [picture_tensor(p, side) for p in pictures]
    names = list(BUILTIN_STYLES)
    for k in range(painters):
        size = int(side * 2 ** (2 * float(torch.rand((), generator=rng)) - 1))
        img = builtin_style(names[k % len(names)], size=max(size, 64), seed=seed + 1 + k)
        pool.append(picture_tensor(img, side))
    return pool


def random_crop(img: torch.Tensor, size: int, smallest: float = 0.3) -> torch.Tensor:
    """A random square crop of (B, C, H, W) pictures, ``smallest``–1 of the short side, scaled
    to ``size`` pixels (randomness from torch's generator, which the engine keys per sample)."""
    h, w = img.shape[-2:]
    side = int(min(h, w) * (smallest + (1 - smallest) * float(torch.rand(()))))
    side = max(side, min(h, w, 32))
    y, x = int(torch.randint(h - side + 1, ())), int(torch.randint(w - side + 1, ()))
    crop = img[..., y : y + side, x : x + side]
    return F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True,
                         align_corners=False)  # fmt: skip


def style_crop(pool: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """One random (1, 3, size, size) style crop of the pool, varied as the module says."""
    x = random_crop(pool[int(torch.randint(len(pool), ()))], size)
    turn = int(torch.randint(8, ()))
    x = torch.rot90(x, turn % 4, (-2, -1))
    if turn >= 4:
        x = x.flip(-1)
    if float(torch.rand(())) < REPAINT:
        x = repaint(x)
    return x.clamp(0, 1)


def repaint(x: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W) in [0, 1], its tones mapped onto a random palette of 2–6 colours."""
    k = int(torch.randint(2, 7, ()))
    palette = torch.rand(k, 3)
    if float(torch.rand(())) < 0.5:  # dark to light, like most paintings' tonal ramps
        palette = palette[palette.mean(1).argsort()]
    tone = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    lo, hi = tone.amin(), tone.amax()
    t = (tone - lo) / (hi - lo).clamp_min(1e-6) * (k - 1)
    i = t.floor().clamp(max=k - 2).long()
    frac = t - i
    a = F.embedding(i[:, 0], palette).permute(0, 3, 1, 2)
    b = F.embedding(i[:, 0] + 1, palette).permute(0, 3, 1, 2)
    return a * (1 - frac) + b * frac
