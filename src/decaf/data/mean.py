"""A dataset's mean image, as Caffe's ``compute_image_mean`` makes it.

Caffe stores images in LMDB already resized (convert_imageset ``--resize_height/width``, 256×256 in
the BVLC recipes) in BGR byte order, and averages them pixel by pixel; the result is a
(C, H, W) float array in 0..255. :func:`compute_mean` does the same from an :class:`ImageSet`
(each picture resized to ``size`` without keeping its aspect, as convert_imageset does) and
returns the same layout, BGR by default so the ``.npy`` drops into Caffe-style preprocessing;
``order="rgb"`` for torch pipelines. Unreadable pictures are skipped and counted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from decaf.core.errors import ImageError, OptionError
from decaf.core.images import atomic_write, load_image, writable_file
from decaf.data.folders import ImageSet


def compute_mean(
    data: ImageSet,
    size: tuple[int, int] = (256, 256),
    order: str = "bgr",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, int]:
    """``(mean, skipped)``: the (3, H, W) float32 mean in 0..255 and the count of bad files."""
    if order not in ("bgr", "rgb"):
        raise OptionError(f"channel order must be bgr or rgb, got {order!r}")
    height, width = size
    if height < 1 or width < 1:
        raise OptionError(f"mean size must be positive, got {height}×{width}")
    total = np.zeros((height, width, 3), np.float64)
    count = skipped = 0
    for i, (path, _) in enumerate(data.samples):
        try:
            img = load_image(path).resize((width, height), Image.Resampling.BILINEAR)
        except ImageError as exc:
            data.bad_file(path, str(exc))  # raises under --on-bad-file stop
            skipped += 1
            continue
        total += np.asarray(img, np.float64)
        count += 1
        if progress:
            progress(i + 1, len(data))
    if count == 0:
        raise ImageError(f"{data.source}: none of the images can be read")
    mean = (total / count).astype(np.float32).transpose(2, 0, 1)
    if order == "bgr":
        mean = mean[::-1]
    return np.ascontiguousarray(mean), skipped


def check_dest(dest: str | os.PathLike) -> Path:
    """``dest`` as a path, or an :class:`OptionError` if it cannot take a mean (check it early)."""
    return writable_file(dest, (".npy",), "mean image")


def save_mean(mean: np.ndarray, dest: str | os.PathLike) -> Path:
    """Write ``mean`` as ``.npy`` atomically."""
    dest = check_dest(dest)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, mean)

    return atomic_write(dest, write)
