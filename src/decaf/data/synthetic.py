"""Synthetic datasets made offline: photographic *looks* applied to scikit-image's photos.

Flickr Style (Karayev et al. 2014) asks a network to recognise how a photo was taken or
processed — Noir, Vintage, Pastel, HDR, Hazy, Depth of Field, Long Exposure, Bright, ... — not
what it shows. :func:`photo_styles` builds a small dataset of that kind with no download: random
crops of the built-in photos, each rendered in every look with randomised strength, so content
never predicts the label and only the look does. It is for tests, demos and docs; it is not a
substitute for real photographs.

Each look is a function ``(rgb float image in [0, 1], rng) → image``, built from scikit-image
and scipy operations (grey conversion, CLAHE, Gaussian blur, line convolution).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, exposure, filters

from decaf.core.errors import OptionError
from decaf.core.images import atomic_dir
from decaf.core.photos import BUILTIN_PHOTOS, builtin_photo

Look = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _vignette(h: int, w: int, strength: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2)) / np.sqrt(2)
    return (1 - strength * r**2)[..., None]


def _grain(img: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    noise = rng.normal(0, amount, img.shape[:2])[..., None]
    return img + noise


def _saturate(img: np.ndarray, factor: float) -> np.ndarray:
    hsv = color.rgb2hsv(np.clip(img, 0, 1))
    hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 1)
    return color.hsv2rgb(hsv)


def noir(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    grey = color.rgb2gray(img)
    k = rng.uniform(6, 10)
    grey = 1 / (1 + np.exp(-k * (grey - rng.uniform(0.4, 0.55))))  # hard S-curve
    out = np.repeat(grey[..., None], 3, -1) * _vignette(*grey.shape, rng.uniform(0.4, 0.7))
    return _grain(out, rng, rng.uniform(0.02, 0.05))


def vintage(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sepia = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
    mix = rng.uniform(0.6, 0.9)
    out = (1 - mix) * img + mix * (img @ sepia.T)
    lift = rng.uniform(0.12, 0.22)  # faded blacks
    out = lift + (1 - lift - 0.05) * out
    out = out * _vignette(*img.shape[:2], rng.uniform(0.3, 0.5))
    return _grain(out, rng, rng.uniform(0.02, 0.04))


def pastel(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = _saturate(img, rng.uniform(0.35, 0.55))
    out = rng.uniform(0.35, 0.5) + rng.uniform(0.45, 0.55) * out
    tint = np.array([1.0, rng.uniform(0.93, 0.98), rng.uniform(0.97, 1.03)])
    return filters.gaussian(out * tint, sigma=0.8, channel_axis=-1)


def hdr(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = exposure.equalize_adapthist(np.clip(img, 0, 1), clip_limit=rng.uniform(0.03, 0.06))
    detail = out - filters.gaussian(out, sigma=3, channel_axis=-1)
    out = out + rng.uniform(1.0, 2.0) * detail  # halo-ish local contrast
    return _saturate(out, rng.uniform(1.4, 1.9))


def hazy(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h = img.shape[0]
    depth = np.linspace(1.0, rng.uniform(0.3, 0.6), h)[:, None, None]  # thicker towards the top
    fog = np.array([0.86, 0.88, 0.9]) + rng.uniform(-0.04, 0.04, 3)
    amount = rng.uniform(0.45, 0.65) * depth
    return (1 - amount) * img + amount * fog


def depth_of_field(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    blurred = filters.gaussian(img, sigma=rng.uniform(3.0, 5.0) * max(h, w) / 160, channel_axis=-1)
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.35, 0.65) * w
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - cy) / h, (xx - cx) / w)
    sharp = np.clip(1 - (r - rng.uniform(0.12, 0.2)) / 0.1, 0, 1)[..., None]
    return sharp * img + (1 - sharp) * blurred


def long_exposure(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    length = int(rng.uniform(0.08, 0.14) * max(h, w)) | 1
    angle = rng.uniform(0, np.pi)
    kernel = np.zeros((length, length))
    c = length // 2
    for t in np.linspace(-c, c, 4 * length):
        kernel[int(round(c + t * np.sin(angle))), int(round(c + t * np.cos(angle)))] = 1
    kernel /= kernel.sum()
    streaks = np.stack(
        [ndimage.convolve(img[..., i], kernel, mode="reflect") for i in range(3)], -1
    )
    mix = rng.uniform(0.75, 0.95)
    return (1 - mix) * img + mix * streaks


def bright(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain = rng.uniform(1.4, 1.8)
    out = np.clip(img * gain, 0, 1) ** rng.uniform(0.6, 0.8)
    return _saturate(out, rng.uniform(0.85, 1.05))


LOOKS: dict[str, Look] = {
    "noir": noir,
    "vintage": vintage,
    "pastel": pastel,
    "hdr": hdr,
    "hazy": hazy,
    "depth_of_field": depth_of_field,
    "long_exposure": long_exposure,
    "bright": bright,
}


def _random_crop(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.45, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    crop = Image.fromarray(photo[y : y + side, x : x + side])
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return np.asarray(crop.resize((size, size), Image.Resampling.LANCZOS), np.float64) / 255


def photo_styles(
    out: str | os.PathLike,
    per_class: int = 30,
    size: int = 160,
    looks: list[str] | None = None,
    val_fraction: float = 0.25,
    seed: int = 0,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Write ``out/<look>/<photo>_<k>.jpg`` plus Caffe list files ``train.txt``/``val.txt`` and
    ``classes.txt``. The folder appears complete or not at all (built beside it, then renamed).
    """
    names = sorted(looks or LOOKS)  # the order a folder scan gives, so both agree
    unknown = [n for n in names if n not in LOOKS]
    if unknown:
        raise OptionError(f"unknown look {unknown[0]!r}; choose from {', '.join(LOOKS)}")
    if per_class < 2 or size < 16:
        raise OptionError("need at least 2 images per class and a size of at least 16 px")
    out = Path(out)
    rng = np.random.default_rng(seed)
    photos = {n: np.asarray(builtin_photo(n)) for n in BUILTIN_PHOTOS}
    with atomic_dir(out, force) as tmp:
        lines: dict[str, list[str]] = {"train": [], "val": []}
        n_val = max(1, round(per_class * val_fraction))
        total, done = per_class * len(names), 0
        for label, look in enumerate(names):
            (tmp / look).mkdir()
            for k in range(per_class):
                source = BUILTIN_PHOTOS[k % len(BUILTIN_PHOTOS)]
                crop = _random_crop(photos[source], size, rng)
                styled = np.clip(LOOKS[look](crop, rng), 0, 1)
                rel = f"{look}/{source}_{k:03d}.jpg"
                Image.fromarray((styled * 255 + 0.5).astype(np.uint8)).save(tmp / rel, quality=92)
                lines["val" if k < n_val else "train"].append(f"{rel} {label}")
                done += 1
                if progress:
                    progress(done, total)
        for split, rows in lines.items():
            (tmp / f"{split}.txt").write_text("\n".join(rows) + "\n")
        (tmp / "classes.txt").write_text("\n".join(names) + "\n")
    return {
        "out": str(out),
        "classes": names,
        "train": len(lines["train"]),
        "val": len(lines["val"]),
    }


# -- detection: squares, circles and triangles ---------------------------------------------------

SHAPES = ("square", "circle", "triangle")


def _shape_mask(kind: str, cx: int, cy: int, s: int, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "square":
        return (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
    if kind == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= s * s
    # an upward triangle with apex (cx, cy − s) and base at y = cy + s
    top, bottom = cy - s, cy + s
    frac = (yy - top) / max(1, bottom - top)
    return (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= frac * s)


def _rle(mask: np.ndarray) -> dict[str, object]:
    """COCO's uncompressed RLE: run lengths over the column-major pixels, zeros first."""
    flat = mask.astype(np.uint8).flatten(order="F")
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    return {"counts": counts, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def shapes(
    out: str | os.PathLike,
    count: int = 100,
    val: int = 20,
    size: tuple[int, int] = (128, 256),
    fmt: str = "voc",
    masks: bool = False,
    seed: int = 0,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, object]:
    """Pictures of 1–4 squares, circles and triangles in random colours, sizes and overlaps.

    Later shapes occlude earlier ones; each object's mask is what stays visible and its box is
    the mask's extent (objects left with under 40 visible pixels are dropped). ``fmt="voc"``
    writes JPEGImages/, Annotations/*.xml (1-based inclusive boxes), ImageSets/Main/train.txt
    and val.txt and, with ``masks``, SegmentationObject/ and SegmentationClass/ PNGs;
    ``fmt="coco"`` writes images/ and instances_train.json / instances_val.json (with RLE
    masks). The folder appears complete or not at all.
    """
    from decaf.data.annotations import Annotation, Box, write_xml

    if fmt not in ("voc", "coco"):
        raise OptionError(f"unknown format {fmt!r}; use voc or coco")
    if count < 1 or not 0 <= val < count:
        raise OptionError("need count ≥ 1 and 0 ≤ val < count")
    lo, hi = size
    if not 32 <= lo <= hi:
        raise OptionError(f"sizes must satisfy 32 ≤ min ≤ max, got {size}")
    out = Path(out)
    rng = np.random.default_rng(seed)
    with atomic_dir(out, force) as tmp:
        image_dir = _layout(tmp, fmt, masks)
        coco: dict[str, dict[str, list]] = {
            split: {"images": [], "annotations": [],
                    "categories": [{"id": i + 1, "name": n} for i, n in enumerate(SHAPES)]}
            for split in ("train", "val")
        }  # fmt: skip
        splits: dict[str, list[str]] = {"train": [], "val": []}
        objects = 0
        for k in range(count):
            img, owner, kinds = _draw_shapes(rng, lo, hi)
            h, w = owner.shape
            stem = f"{k:06d}"
            split = "val" if k >= count - val else "train"
            splits[split].append(stem)
            name = f"{stem}.png"
            Image.fromarray(img).save(image_dir / name)
            boxes: list[Box] = []
            for kind, box, m in _visible_objects(owner, kinds):
                boxes.append(box)
                if fmt == "coco":
                    entry = {"id": objects + 1, "image_id": k + 1,
                             "category_id": SHAPES.index(kind) + 1,
                             "bbox": [box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1],
                             "area": float(m.sum()), "iscrowd": 0}  # fmt: skip
                    if masks:
                        entry["segmentation"] = _rle(m)
                    coco[split]["annotations"].append(entry)
                objects += 1
            if fmt == "voc":
                write_xml(Annotation(name, w, h, 3, boxes), tmp / "Annotations" / f"{stem}.xml")
                if masks:
                    _write_voc_masks(owner, kinds, tmp, name)
            else:
                coco[split]["images"].append({"id": k + 1, "file_name": name, "width": w,
                                              "height": h})  # fmt: skip
            if progress:
                progress(k + 1, count)
        _write_index(tmp, fmt, splits, coco)
    return {"out": str(out), "format": fmt, "images": count, "train": count - val, "val": val,
            "objects": objects, "classes": list(SHAPES), "masks": masks}  # fmt: skip


def _draw_shapes(rng: np.random.Generator, lo: int, hi: int
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:  # fmt: skip
    """One picture of 1–4 shapes over a plain background; ``owner`` says which object each
    pixel shows (0: none). Later shapes occlude earlier ones."""
    h, w = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(0, 256, 3)
    owner = np.zeros((h, w), np.int32)
    kinds = []
    for j in range(int(rng.integers(1, 5))):
        kind = SHAPES[int(rng.integers(0, 3))]
        s = int(rng.integers(max(6, min(h, w) // 12), max(7, min(h, w) // 4)))
        cx, cy = int(rng.integers(s // 2, w - s // 2)), int(rng.integers(s // 2, h - s // 2))
        m = _shape_mask(kind, cx, cy, s, h, w)
        colour = rng.integers(0, 256, 3)
        while np.abs(colour.astype(int) - img[0, 0].astype(int)).sum() < 120:
            colour = rng.integers(0, 256, 3)
        img[m] = colour
        owner[m] = j + 1
        kinds.append(kind)
    return img, owner, kinds


def _visible_objects(owner: np.ndarray, kinds: list[str]) -> list[tuple[str, Any, np.ndarray]]:
    """(kind, box, mask) of each object with at least 40 visible pixels; the box is the visible
    mask's extent. Objects below that are erased from ``owner``."""
    from decaf.data.annotations import Box

    out = []
    for j, kind in enumerate(kinds):
        m = owner == j + 1
        if m.sum() < 40:
            owner[m] = 0
            continue
        ys, xs = np.nonzero(m)
        box = Box(kind, float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        out.append((kind, box, m))
    return out


def _write_voc_masks(owner: np.ndarray, kinds: list[str], root: Path, name: str) -> None:
    """VOC's SegmentationObject (instance n) and SegmentationClass (class id) PNGs."""
    remap = np.zeros(len(kinds) + 1, np.uint8)
    cls = np.zeros(len(kinds) + 1, np.uint8)
    n = 0
    for j, kind in enumerate(kinds):
        if (owner == j + 1).any():
            n += 1
            remap[j + 1] = n
            cls[j + 1] = SHAPES.index(kind) + 1
    Image.fromarray(remap[owner]).save(root / "SegmentationObject" / name)
    Image.fromarray(cls[owner]).save(root / "SegmentationClass" / name)


def _layout(root: Path, fmt: str, masks: bool) -> Path:
    """The folders of a VOC (or COCO) layout; returns the pictures' folder."""
    image_dir = root / ("JPEGImages" if fmt == "voc" else "images")
    image_dir.mkdir()
    if fmt == "voc":
        (root / "Annotations").mkdir()
        (root / "ImageSets" / "Main").mkdir(parents=True)
        if masks:
            (root / "SegmentationObject").mkdir()
            (root / "SegmentationClass").mkdir()
    return image_dir


def _write_index(root: Path, fmt: str, splits: dict[str, list[str]],
                 coco: dict[str, dict[str, list]]) -> None:  # fmt: skip
    """VOC's split lists and classes.txt, or COCO's instances_<split>.json."""
    if fmt == "voc":
        for split, stems in splits.items():
            (root / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(stems) + "\n")
        (root / "classes.txt").write_text("\n".join(SHAPES) + "\n")
        return
    import json

    for split, data in coco.items():
        (root / f"instances_{split}.json").write_text(json.dumps(data))
