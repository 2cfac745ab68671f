"""The varied style stream that arbitrary-style decoders learn from."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from decaf.stylize.variety import repaint, style_crop, style_pool


def _two_chromas(h: int = 24, w: int = 32) -> torch.Tensor:
    """Tones rising left to right; the top half grey, the bottom half orange of the same tone."""
    t = torch.linspace(0, 0.55, w).expand(h, w)
    grey = torch.ones(3)
    orange = torch.tensor([0.5 / 0.299, 0.5 / 0.587, 0.0])  # luminance 1, like grey's
    chroma = torch.where(torch.arange(h)[:, None, None] < h // 2, grey, orange)  # (h, 1, 3)
    return (t[..., None] * chroma).permute(2, 0, 1)[None]


def test_repaint_maps_equal_tones_to_equal_colours_and_spans_a_new_palette() -> None:
    torch.manual_seed(3)
    x = _two_chromas()
    out = repaint(x)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    top, bottom = out[..., :12, :], out[..., 12:, :]
    assert float((x[..., :12, :] - x[..., 12:, :]).abs().max()) > 0.3  # different colours...
    assert torch.allclose(top, bottom, atol=1e-5)  # ...of one tone get one colour
    assert float((out[..., 0] - out[..., -1]).abs().max()) > 0.05  # different tones differ
    assert float((out - x).abs().mean()) > 0.05  # a new palette, not the old colours


def test_style_pool_and_crops_are_varied_and_repeatable() -> None:
    pic = Image.fromarray(np.full((40, 60, 3), 128, np.uint8))
    pool = style_pool([pic], painters=2, side=64, seed=1)
    assert len(pool) == 3 and all(p.shape[1] == 3 and max(p.shape[-2:]) == 64 for p in pool)
    assert float((pool[1] - pool[2]).abs().mean()) > 0.01  # two painters, two pictures

    def crops(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        return [style_crop(pool, 32) for _ in range(6)]

    a, b = crops(0), crops(0)
    assert all(c.shape == (1, 3, 32, 32) and torch.equal(c, d) for c, d in zip(a, b, strict=True))
    assert len({round(float(c.mean()), 4) for c in a}) > 3
