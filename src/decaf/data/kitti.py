"""KITTI object labels → a Pascal VOC layout that ``decaf train detector`` reads.

KITTI (``training/image_2/*.png`` + ``training/label_2/*.txt``) has one object per line: type,
truncated (0..1), occluded (0 visible … 3 unknown), alpha, then the 2-D box as float pixel
coordinates (left, top, right, bottom, 0-based), then 3-D fields we do not need. ``DontCare``
regions are skipped. KITTI's own benchmark ignores objects beyond its "hard" level (box under
25 px tall, occlusion above 2 or truncation above 0.5); those become VOC ``difficult`` objects
here, so the VOC evaluator ignores them in the same way.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from decaf.core.images import atomic_dir
from decaf.data.annotations import Annotation, Box, write_xml
from decaf.data.folders import DataError

HARD = {"min_height": 25.0, "max_occlusion": 2, "max_truncation": 0.5}


def read_kitti_label(path: str | os.PathLike, width: int, height: int) -> Annotation:
    """One KITTI label file as an annotation with continuous boxes clipped to the picture."""
    path = Path(path)
    ann = Annotation(path.stem, width, height)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 8:
            raise DataError(f"{path}:{n}: want at least 8 fields (type … bottom), got {line!r}")
        kind = fields[0]
        try:
            truncated, occluded = float(fields[1]), int(float(fields[2]))
            x1, y1, x2, y2 = (float(v) for v in fields[4:8])
        except ValueError as err:
            raise DataError(f"{path}:{n}: {err}") from err
        if kind == "DontCare":
            continue
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, width), min(y2, height)
        if x2 <= x1 or y2 <= y1:
            ann.dropped.append(f"{path.name}:{n}: empty box after clipping")
            continue
        hard = (
            y2 - y1 < HARD["min_height"]
            or occluded > HARD["max_occlusion"]
            or truncated > HARD["max_truncation"]
        )
        ann.boxes.append(Box(kind, x1, y1, x2, y2, difficult=hard))
    return ann


def kitti_to_voc(
    src: str | os.PathLike,
    out: str | os.PathLike,
    val: float = 0.2,
    seed: int = 0,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Convert ``src`` (a KITTI ``training`` folder, or its parent) into a VOC layout at ``out``.

    Pictures are copied as they are (PNG); a seeded ``val`` fraction goes to val.txt, the rest to
    train.txt; classes.txt lists the object types found.
    """
    from PIL import Image

    src = Path(src)
    root = src / "training" if (src / "training" / "label_2").is_dir() else src
    labels, images = root / "label_2", root / "image_2"
    if not labels.is_dir() or not images.is_dir():
        raise DataError(f"{src}: want label_2/ and image_2/ (a KITTI training folder)")
    if not 0 <= val < 1:
        raise DataError(f"the validation fraction must be in [0, 1), got {val}")
    stems = sorted(p.stem for p in labels.glob("*.txt"))
    if not stems:
        raise DataError(f"{labels}: no label files")
    order = np.random.default_rng(seed).permutation(len(stems))
    n_val = round(len(stems) * val)
    val_stems = {stems[i] for i in order[:n_val]}
    kinds: set[str] = set()
    counts = {"objects": 0, "difficult": 0, "dropped": 0}
    with atomic_dir(out, force) as tmp:
        for d in ("JPEGImages", "Annotations", "ImageSets/Main"):
            (tmp / d).mkdir(parents=True)
        for k, stem in enumerate(stems):
            picture = next((p for p in images.glob(f"{stem}.*")), None)
            if picture is None:
                raise DataError(f"{images}: no picture for label {stem}")
            with Image.open(picture) as im:
                width, height = im.size
            ann = read_kitti_label(labels / f"{stem}.txt", width, height)
            ann.filename = picture.name
            write_xml(ann, tmp / "Annotations" / f"{stem}.xml")
            shutil.copyfile(picture, tmp / "JPEGImages" / picture.name)
            kinds.update(b.label for b in ann.boxes)
            counts["objects"] += len(ann.boxes)
            counts["difficult"] += sum(b.difficult for b in ann.boxes)
            counts["dropped"] += len(ann.dropped)
            if progress:
                progress(k + 1, len(stems))
        main = tmp / "ImageSets" / "Main"
        (main / "train.txt").write_text("".join(f"{s}\n" for s in stems if s not in val_stems))
        (main / "val.txt").write_text("".join(f"{s}\n" for s in stems if s in val_stems))
        (tmp / "classes.txt").write_text("".join(f"{c}\n" for c in sorted(kinds)))
    return {"out": str(out), "images": len(stems), "train": len(stems) - n_val, "val": n_val,
            "classes": sorted(kinds), **counts}  # fmt: skip
