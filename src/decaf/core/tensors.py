"""The one conversion between pictures and tensors.

Pictures enter the networks as float tensors in [0, 1], channels first (torchvision's
``to_image`` does the layout); they leave rounded to
the nearest 8-bit value (torchvision's ``to_pil_image`` truncates, which darkens every picture
by half a level on average, so the way back is written here).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as TF  # noqa: N812 (torchvision's own alias)


def to_tensor(img: Image.Image | np.ndarray) -> torch.Tensor:
    """A picture (PIL, or an (H, W, 3) uint8 array) as a (3, H, W) float32 tensor in [0, 1]."""
    if isinstance(img, Image.Image):
        img = img.convert("RGB")
    elif not img.flags.writeable:  # torch warns about (and may not share) read-only memory
        img = img.copy()
    # a true division by 255 (``to_dtype(scale=True)`` multiplies by 1/255, 1 ulp off at times),
    # so tensors equal what every earlier decaf release and numpy's ``arr / 255`` computed
    return TF.to_image(img).as_subclass(torch.Tensor).float().div_(255)


def to_batch(img: Image.Image | np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """:func:`to_tensor` with a batch axis: (1, 3, H, W), on ``device``."""
    return to_tensor(img)[None].to(device)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] as an (H, W, 3) uint8 array, rounded."""
    if x.dim() == 4:
        x = x[0]
    x = x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


def to_pil(x: torch.Tensor) -> Image.Image:
    """A (3, H, W) or (1, 3, H, W) tensor in [0, 1] as an RGB picture (rounded, not truncated)."""
    return Image.fromarray(to_uint8(x))


def float_array_to_batch(arr: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """An (H, W, 3) float picture in [0, 1] (colour work is done in float64 arrays) as a
    (1, 3, H, W) float32 tensor on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).permute(2, 0, 1)
    return x[None].contiguous().to(device)


def batch_to_float_array(x: torch.Tensor) -> np.ndarray:
    """The first picture of a (B, 3, H, W) tensor as an (H, W, 3) float64 array in [0, 1]."""
    return x[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(np.float64)


def resize_long_side(img: Image.Image, size: int | None) -> Image.Image:
    """``img`` with its long side at ``size`` pixels (Lanczos); unchanged for None."""
    if size is None or max(img.size) == size:
        return img
    w, h = img.size
    s = size / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


def picture_tensor(img: Image.Image, size: int | None = None) -> torch.Tensor:
    """A picture as a (1, 3, H, W) float tensor in [0, 1], its long side resized to ``size``."""
    return to_batch(resize_long_side(img, size))
