"""Shared fixtures: deterministic seeds, small synthetic pictures, the optional ../shared data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def rgb_image() -> Image.Image:
    """A 96×64 picture with structure (gradients and a square), not noise."""
    yy, xx = np.mgrid[0:64, 0:96]
    arr = np.stack([xx / 95.0, yy / 63.0, 0.5 + 0.5 * np.sin(xx / 7.0)], -1)
    arr[20:44, 30:60] = (0.9, 0.2, 0.1)
    return Image.fromarray((arr * 255).astype(np.uint8), "RGB")


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or a clean skip when it is absent (as on a user's machine)."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is not present")
    return path
