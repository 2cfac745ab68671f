"""Detection datasets: Pascal VOC / ImageNet-DET layouts and COCO JSON, as one sample type.

Every format becomes a list of ``Sample`` (image id, picture path, ``Annotation`` with continuous
xyxy boxes), so training, evaluation and the VOC evaluator never see the file conventions:

- ``voc`` / ``imagenet``: ``JPEGImages/``, ``Annotations/*.xml``, ``ImageSets/Main/<split>.txt``
  (and ``SegmentationObject/`` PNGs for masks); see ``decaf.data.annotations``.
- ``coco``: ``instances_<split>.json`` in the root or its ``annotations/`` folder; pictures in
  ``images/``, ``<split>/`` or the root. ``bbox`` is continuous [x, y, w, h]; ``iscrowd`` objects
  are kept out of training and ignored by the evaluator, like VOC's ``difficult``. Masks are
  polygons or uncompressed RLE (compressed RLE strings need the optional ``pycocotools``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from decaf.core.images import load_image
from decaf.core.tensors import to_tensor
from decaf.data.annotations import Annotation, Box, coordinate, read_xml, side
from decaf.data.folders import DataError

FORMATS = ("voc", "imagenet", "coco")


@dataclass
class Sample:
    key: str  # the image id: a VOC stem or a COCO image id
    path: Path
    annotation: Annotation
    segments: list[Any] | None = None  # COCO segmentations, one per box


def inside(base: Path, name: str, where: object) -> Path:
    """``base / name``, refused when ``name`` (from an annotation or list file) would lead out
    of ``base`` ("../../etc/passwd", an absolute path, a symlink out)."""
    path = base / name
    real, home = path.resolve(), base.resolve()
    if real != home and home not in real.parents:
        raise DataError(f"{where}: {name!r} points outside {base}")
    return path


def voc_samples(root: Path, split: str, convention: str) -> list[Sample]:
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if not listing.is_file():
        raise DataError(f"{root}: no {listing.relative_to(root)} (a VOC layout?)")
    stems = listing.read_text().split()
    samples = []
    for stem in stems:
        xml = inside(root / "Annotations", f"{stem}.xml", listing)
        ann = read_xml(xml, convention)
        path = inside(root / "JPEGImages", ann.filename, xml)
        if not path.is_file():
            ext = "JPEG" if convention == "imagenet" else "jpg"
            path = inside(root / "JPEGImages", f"{stem}.{ext}", listing)
        samples.append(Sample(stem, path, ann))
    return samples


#: COCO's own train2017 instances file is 0.45 GB; anything past this is refused unread
MAX_JSON_BYTES = 4 << 30


def coco_samples(root: Path, split: str) -> tuple[list[Sample], list[str]]:
    """Samples and class names (by category id) of a COCO instances file."""
    candidates = [
        root / f"instances_{split}.json",
        root / "annotations" / f"instances_{split}.json",
    ]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise DataError(f"{root}: no instances_{split}.json here or in annotations/")
    if found.stat().st_size > MAX_JSON_BYTES:
        raise DataError(f"{found}: {found.stat().st_size:,} bytes, more than the "
                        f"{MAX_JSON_BYTES:,} an instances file may have here")  # fmt: skip
    try:
        doc = json.loads(found.read_text())
        categories = sorted(doc["categories"], key=lambda c: c["id"])
        names = {c["id"]: str(c["name"]) for c in categories}
        images = doc["images"]
        anns = doc.get("annotations", [])
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        why = "nested too deeply" if isinstance(err, RecursionError) else err
        raise DataError(f"{found}: not a COCO instances file ({why})") from None
    by_image: dict[Any, list[dict]] = {}
    for a in anns:
        by_image.setdefault(a.get("image_id"), []).append(a)
    folders = [root / "images", root / split, root]
    samples = []
    for img in images:
        try:
            name = str(img["file_name"])
            w = side(img["width"], f"image {img.get('id')!r} width", found)
            h = side(img["height"], f"image {img.get('id')!r} height", found)
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{found}: image entry {img!r} lacks file_name/width/height") from err
        candidates = [inside(d, name, found) for d in folders]
        path = next((c for c in candidates if c.is_file()), candidates[0])
        ann, segments = Annotation(name, w, h), []
        for a in by_image.get(img["id"], []):
            try:
                bbox = a["bbox"]
                if not isinstance(bbox, list) or len(bbox) != 4:
                    raise ValueError(f"bbox {bbox!r} is not [x, y, w, h]")
                x, y, bw, bh = (coordinate(v, f"annotation {a.get('id')!r} bbox", found)
                                for v in bbox)  # fmt: skip
                label = names[a["category_id"]]
            except (KeyError, TypeError, ValueError) as err:
                raise DataError(
                    f"{found}: annotation {a.get('id')!r} is malformed ({err})"
                ) from err
            x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + bw, w), min(y + bh, h)
            if x2 <= x1 or y2 <= y1:
                ann.dropped.append(f"annotation {a.get('id')}: empty box {a['bbox']} in {w}x{h}")
                continue
            ann.boxes.append(Box(label, x1, y1, x2, y2, difficult=bool(a.get("iscrowd", 0))))
            segments.append(a.get("segmentation"))
        samples.append(Sample(str(img["id"]), path, ann, segments))
    return samples, [names[c["id"]] for c in categories]


def decode_segment(segment: Any, height: int, width: int) -> np.ndarray:
    """A COCO segmentation (polygons or RLE) as an (H, W) uint8 mask."""
    if isinstance(segment, list):  # polygons [[x, y, x, y, ...], ...]
        import cv2

        mask = np.zeros((height, width), np.uint8)
        polys = [np.asarray(p, np.float64).reshape(-1, 2).round().astype(np.int32)
                 for p in segment]  # fmt: skip
        cv2.fillPoly(mask, polys, 1)
        return mask
    if isinstance(segment, dict) and isinstance(segment.get("counts"), list):
        flat = np.repeat(np.arange(len(segment["counts"])) % 2, segment["counts"]).astype(np.uint8)
        h, w = segment["size"]
        if flat.size != h * w:
            raise DataError(f"an RLE mask covers {flat.size} pixels, its size says {h}x{w}")
        return flat.reshape((h, w), order="F")
    if isinstance(segment, dict):
        try:
            from pycocotools import mask as coco_mask
        except ImportError as err:
            raise DataError("compressed COCO RLE masks need pycocotools (pip install "
                            "pycocotools)") from err  # fmt: skip
        return coco_mask.decode(segment).astype(np.uint8)
    raise DataError(f"an object has no usable segmentation ({type(segment).__name__})")


class DetectionDataset(Dataset):
    """Detection samples as ``(image tensor in [0, 1], target)`` for torchvision's detectors.

    Targets hold continuous xyxy ``boxes`` and ``labels`` 1..K by ``classes`` (0 is
    background); ``masks`` with ``masks=True``; ``proposals`` when a ``ProposalSource`` is given
    (Fast R-CNN). ``flip`` mirrors at random (training). Objects marked difficult (VOC) or crowd
    (COCO) stay out of training targets, as py-faster-rcnn does; the evaluator ignores them.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train", fmt: str = "voc",
                 classes: list[str] | None = None, flip: bool = False, masks: bool = False,
                 proposals: Any = None) -> None:  # fmt: skip
        if fmt not in FORMATS:
            raise DataError(f"unknown annotation format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.root = Path(root)
        if fmt == "coco":
            self.samples, names = coco_samples(self.root, split)
        else:
            self.samples = voc_samples(self.root, split, fmt)
            names_file = self.root / "classes.txt"
            names = names_file.read_text().split() if names_file.is_file() else None
        if not self.samples:
            raise DataError(f"{self.root}: the {split} split lists no images")
        found = sorted({b.label for s in self.samples for b in s.annotation.boxes})
        self.classes = list(classes or names or found)
        unknown = sorted(set(found) - set(self.classes))
        if unknown:
            raise DataError(f"{self.root}: classes {unknown} are not in {self.classes}")
        self.fmt, self.flip, self.masks, self.proposals = fmt, flip, masks, proposals

    def box_report(self) -> dict[str, Any]:
        """How many boxes the split holds and how many the readers dropped (empty or inverted
        after clipping), with the first reasons, so that no box is left out silently."""
        dropped = [reason for s in self.samples for reason in s.annotation.dropped]
        return {"boxes": sum(len(s.annotation.boxes) for s in self.samples),
                "dropped_boxes": len(dropped), "dropped_examples": dropped[:3]}  # fmt: skip

    def __len__(self) -> int:
        return len(self.samples)

    def _masks(self, sample: Sample, h: int, w: int) -> np.ndarray:
        boxes = sample.annotation.boxes
        if sample.segments is not None:
            return np.stack([decode_segment(s, h, w) for s in sample.segments] or
                            [np.zeros((h, w), np.uint8)])[: len(boxes)]  # fmt: skip
        from PIL import Image

        path = self.root / "SegmentationObject" / f"{sample.path.stem}.png"
        if not path.is_file():
            raise DataError(f"{path}: missing (Mask R-CNN needs SegmentationObject/ PNGs)")
        ids = np.asarray(Image.open(path))
        return np.stack([ids == n + 1 for n in range(len(boxes))] or
                        [np.zeros((h, w), bool)]).astype(np.uint8)[: len(boxes)]  # fmt: skip

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sample = self.samples[i]
        try:
            pixels = np.asarray(load_image(sample.path))
        except Exception as err:  # noqa: BLE001 - any decoder failure names the file
            raise DataError(f"{sample.path}: cannot read the picture ({err})") from err
        img = to_tensor(pixels)
        keep = [n for n, b in enumerate(sample.annotation.boxes) if not b.difficult]
        boxes = [sample.annotation.boxes[n] for n in keep]
        target: dict[str, torch.Tensor] = {
            "boxes": torch.tensor([b.xyxy for b in boxes], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor([self.classes.index(b.label) + 1 for b in boxes],
                                   dtype=torch.int64),
        }  # fmt: skip
        if self.masks:
            h, w = pixels.shape[:2]
            target["masks"] = torch.from_numpy(self._masks(sample, h, w)[keep])
        if self.proposals is not None:
            target["proposals"] = self.proposals(sample.key, pixels)
        if self.flip and torch.rand(()) < 0.5:
            w = img.shape[-1]
            img = img.flip(-1)
            for key in ("boxes", "proposals"):
                if key in target:
                    b = target[key]
                    target[key] = torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)
            if "masks" in target:
                target["masks"] = target["masks"].flip(-1)
        return img, target


def collate(batch: list[Any]) -> tuple[list[Any], list[Any]]:
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
