"""Fast R-CNN mode: the RoI heads score external proposals instead of the RPN's.

Fast R-CNN (Girshick 2015) and the ImageNet recipe of py-faster-rcnn's era take region proposals
from outside the network, usually selective search. Here they come from OpenCV-contrib's
``ximgproc`` selective search or from a file, and ``FastRCNN`` swaps torchvision's RPN for a
module that hands those boxes (rescaled like the picture) to the same RoI heads. Everything else —
backbone, FPN, RoIAlign/RoIPool, losses, OHEM — is shared with Faster R-CNN.

A proposals file is ``.npz`` (one array per image id) or ``.json`` (``{"id": [[x1, y1, x2, y2],
...]}``), boxes in continuous pixel coordinates of the original picture.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.ops import boxes as box_ops

from decaf.core.errors import OptionError
from decaf.data.folders import DataError

SELECTIVE_SEARCH = "selective-search"


def selective_search(image: np.ndarray, max_boxes: int = 2000, quality: bool = False) -> np.ndarray:
    """Up to ``max_boxes`` selective-search boxes (xyxy float32) for an RGB uint8 picture.

    OpenCV returns its regions roughly from most to least object-like, so the first
    ``max_boxes`` are kept, as R-CNN kept ~2000.
    """
    import cv2

    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(np.ascontiguousarray(image[:, :, ::-1]))
    if quality:
        search.switchToSelectiveSearchQuality()
    else:
        search.switchToSelectiveSearchFast()
    rects = search.process()[:max_boxes].astype(np.float32).reshape(-1, 4)
    rects[:, 2:] += rects[:, :2]
    return rects


def read_proposals(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A proposals file (``.npz`` or ``.json``) as image id → (N, 4) float32 xyxy boxes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such proposals file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                found = {k: np.asarray(z[k], np.float32) for k in z.files}
        elif path.suffix == ".json":
            found = {k: np.asarray(v, np.float32) for k, v in json.loads(path.read_text()).items()}
        else:
            raise DataError(f"{path}: proposals are .npz or .json")
    except (ValueError, OSError) as err:
        raise DataError(f"{path}: not a proposals file ({err})") from err
    for key, boxes in found.items():
        boxes = boxes.reshape(-1, 4) if boxes.size == 0 else boxes
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise DataError(f"{path}: proposals for {key!r} have shape {boxes.shape}, want (N, 4)")
        found[key] = boxes
    return found


class ProposalSource:
    """Proposals per image id: from a file, or computed by selective search (and remembered)."""

    def __init__(self, spec: str | os.PathLike, max_boxes: int = 2000) -> None:
        self.spec = str(spec)
        self.max_boxes = max_boxes
        self.table = None if self.spec == SELECTIVE_SEARCH else read_proposals(spec)
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, key: str, image: np.ndarray) -> torch.Tensor:
        if self.table is not None:
            if key not in self.table:
                raise DataError(f"{self.spec}: no proposals for image {key!r}")
            boxes = self.table[key][: self.max_boxes]
        else:
            if key not in self.cache:
                self.cache[key] = selective_search(image, self.max_boxes)
            boxes = self.cache[key]
        return torch.from_numpy(np.array(boxes, np.float32)).reshape(-1, 4)


class GivenProposals(nn.Module):
    """Stands in for the RPN: rescales the proposals given with a batch to the resized pictures,
    clips them and drops tiny boxes; no losses, no parameters and no state between calls (the
    proposals travel as an argument, so one model serves several threads at once)."""

    def forward(self, proposals: list[torch.Tensor], original: list[tuple[int, int]],
                resized: list[tuple[int, int]]) -> list[torch.Tensor]:  # fmt: skip
        out = []
        for boxes, (h0, w0), (h, w) in zip(proposals, original, resized, strict=True):
            scale = boxes.new_tensor([w / w0, h / h0, w / w0, h / h0])
            boxes = box_ops.clip_boxes_to_image(boxes * scale, (h, w))
            out.append(boxes[box_ops.remove_small_boxes(boxes, 1.0)])
        return out


class FastRCNN(FasterRCNN):
    """Faster R-CNN's network with external proposals in place of the RPN.

    Proposals come as ``proposals=`` (one (N, 4) tensor per picture, original pixels) or, in
    training, as ``target["proposals"]``. ``forward`` is torchvision's ``GeneralizedRCNN`` path
    with the proposals handed straight to the RoI heads.
    """

    def __init__(self, backbone: nn.Module, **kwargs) -> None:  # noqa: ANN003
        super().__init__(backbone, **kwargs)
        self.rpn = GivenProposals()

    def forward(self, images, targets=None, proposals=None):  # noqa: ANN001
        if proposals is None and targets is not None:
            proposals = [t["proposals"] for t in targets]
        if proposals is None or len(proposals) != len(images):
            raise OptionError("a Fast R-CNN model needs one proposal set per picture")
        original = [tuple(img.shape[-2:]) for img in images]
        boxes = [p.to(images[0].device, torch.float32) for p in proposals]
        batch, targets = self.transform(images, targets)
        features = self.backbone(batch.tensors)
        if isinstance(features, torch.Tensor):
            features = {"0": features}
        boxes = self.rpn(boxes, original, batch.image_sizes)
        detections, losses = self.roi_heads(features, boxes, batch.image_sizes, targets)
        if self.training:
            return losses
        return self.transform.postprocess(detections, batch.image_sizes, original)
