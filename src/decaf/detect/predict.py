"""A trained detector, loaded once, called from any number of threads.

``Detector(bundle)(pictures)`` → one :class:`Detections` per picture (boxes in the picture's
pixels, labels by name, scores, mask areas for Mask R-CNN), each with ``.to_json()``. The
model runs in eval mode under ``inference_mode`` and keeps nothing between calls, so one
instance serves the CLI, the annotate features and the server's worker threads alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from decaf.core import checks
from decaf.core.bundle import load_bundle
from decaf.core.devices import resolve_device
from decaf.core.errors import OptionError
from decaf.core.images import ImageSource, load_image
from decaf.core.tensors import to_tensor, to_uint8
from decaf.detect import model as dmodel
from decaf.detect.proposals import SELECTIVE_SEARCH, ProposalSource

#: A mask probability at or above this is part of the object (Mask R-CNN's own threshold).
MASK_THRESHOLD = 0.5


@dataclass(frozen=True)
class DetectedObject:
    label: str
    score: float
    box: tuple[float, float, float, float]  #: x1, y1, x2, y2 in the picture's pixels
    mask: np.ndarray | None = None  #: (H, W) bool, Mask R-CNN only

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "score": round(self.score, 4),
                               "box": [round(v, 1) for v in self.box]}  # fmt: skip
        if self.mask is not None:
            out["mask_pixels"] = int(self.mask.sum())
        return out


@dataclass(frozen=True)
class Detections:
    image: str  #: the picture's name (its path, or the name given)
    width: int
    height: int
    objects: tuple[DetectedObject, ...]

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "objects": [o.to_json() for o in self.objects]}

    def summary(self) -> str:
        shown = ", ".join(f"{o.label} {o.score:.2f}" for o in self.objects)
        return f"{self.image}: {shown or 'nothing'}"


class Detector:
    """A trained detector from a bundle.

    A Fast R-CNN bundle needs proposals: from ``proposals`` (a file keyed by image id, or
    "selective-search"), else selective search, whatever the model was trained with.
    """

    def __init__(self, bundle_path: str | os.PathLike, proposals: str | None = None,
                 device: str = "cpu") -> None:  # fmt: skip
        bundle = load_bundle(bundle_path, task=dmodel.TASK)
        cfg = bundle["config"]
        self.path = bundle_path
        self.classes = list(bundle["classes"])
        self.device = resolve_device(device)
        self.model = dmodel.from_config(len(self.classes), cfg, pretrained=False)
        self.model.load_state_dict(bundle["state_dict"])
        self.model.eval().to(self.device)
        self.external = cfg.get("proposals") is not None
        self.proposals = ProposalSource(proposals or SELECTIVE_SEARCH) if self.external else None

    def __call__(self, pictures: Sequence[ImageSource], score_threshold: float = 0.5,
                 names: Sequence[str] | None = None) -> list[Detections]:  # fmt: skip
        """Detections per picture. ``names`` label the results and key a proposals file (default:
        file stems for paths, else positions)."""
        checks.in_range("score threshold", score_threshold, 0, 1)
        images = [load_image(p) for p in pictures]  # every input checked before any work
        if names is None:
            names = [str(p) if isinstance(p, str | os.PathLike) else str(n)
                     for n, p in enumerate(pictures)]  # fmt: skip
        keys = [os.path.splitext(os.path.basename(n))[0] for n in names]
        out = []
        for img, name, key in zip(images, names, keys, strict=True):
            pred = self.predict([to_tensor(img)], score_threshold, keys=[key])[0]
            out.append(self._result(pred, name, img.width, img.height))
        return out

    def _result(self, pred: dict[str, torch.Tensor], name: str, w: int, h: int) -> Detections:
        masks = (pred["masks"][:, 0] >= MASK_THRESHOLD).cpu().numpy() if "masks" in pred else None
        objects = tuple(
            DetectedObject(self.classes[int(label) - 1], float(score),
                           tuple(float(v) for v in box),  # type: ignore[arg-type]
                           masks[n] if masks is not None else None)
            for n, (box, label, score) in enumerate(zip(pred["boxes"].tolist(),
                                                        pred["labels"].tolist(),
                                                        pred["scores"].tolist(), strict=True))
        )  # fmt: skip
        return Detections(name, w, h, objects)

    @torch.inference_mode()
    def predict(self, images: list[torch.Tensor], score_threshold: float = 0.05,
                keys: list[str] | None = None) -> list[dict]:  # fmt: skip
        """Raw detections per picture (``images`` in [0, 1], CHW): torchvision's dicts, cut at
        ``score_threshold``; ``keys`` name the pictures for a proposals file."""
        sizes = [tuple(img.shape[-2:]) for img in images]
        images = [self._pad_thin(img.to(self.device)) for img in images]
        if self.proposals is not None:
            keys = keys or [str(n) for n in range(len(images))]
            boxes = [self.proposals(k, to_uint8(img)) for k, img in zip(keys, images, strict=True)]
            found = self.model(images, proposals=boxes)
        else:
            found = self.model(images)
        out = []
        for det, (h, w) in zip(found, sizes, strict=True):
            det = _crop(det, h, w)
            keep = det["scores"] >= score_threshold
            out.append({k: v[keep].cpu() for k, v in det.items()})
        return out

    def _pad_thin(self, img: torch.Tensor) -> torch.Tensor:
        """A strip (1×5000, say) would shrink to 0 px on its short side when the long side is
        fitted to ``max_size``; pad it (bottom/right, zeros) so the short side keeps 32 px."""
        h, w = img.shape[-2:]
        need = math.ceil(max(h, w) * 32 / self.model.transform.max_size)
        ph, pw = max(0, need - h), max(0, need - w)
        return F.pad(img, (0, pw, 0, ph)) if ph or pw else img


def detect_files(target: str | os.PathLike, model: str | os.PathLike, score_threshold: float = 0.5,
                 draw: str | os.PathLike | None = None, proposals: str | None = None,
                 device: str = "cpu") -> list[Detections]:  # fmt: skip
    """``decaf detect``: a picture or a folder; ``draw`` paints the one picture's detections.
    Every input and the drawing's destination are checked before the network loads."""
    from decaf.core.images import image_format_for, picture_paths, save_image, writable_file

    checks.in_range("score threshold", score_threshold, 0, 1)
    paths = picture_paths(target)
    if draw is not None:
        image_format_for(draw)
        writable_file(draw)
        if len(paths) != 1:
            raise OptionError("--draw takes one input picture")
    pictures = [load_image(p) for p in paths]
    found = Detector(model, proposals, device)(pictures, score_threshold, [str(p) for p in paths])
    if draw is not None:
        from decaf.detect.draw import draw_detections

        save_image(draw_detections(pictures[0], found[0]), draw)
    return found


def _crop(det: dict[str, torch.Tensor], h: int, w: int) -> dict[str, torch.Tensor]:
    """Detections of a padded picture back inside the picture: boxes clipped, empty ones
    dropped, masks cut to size."""
    if "boxes" not in det or not len(det["boxes"]):
        return {k: (v[..., :h, :w] if k == "masks" else v) for k, v in det.items()}
    boxes = det["boxes"].clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    out = {k: v[keep] for k, v in det.items() if k != "boxes"}
    out["boxes"] = boxes[keep]
    if "masks" in out:
        out["masks"] = out["masks"][..., :h, :w]
    return out
