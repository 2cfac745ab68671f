"""Detection annotations: Pascal VOC and ImageNet-DET XML, read and written safely.

decaf keeps boxes as continuous (x1, y1, x2, y2): a box covers x1 ≤ x < x2, so a box over the
whole W-pixel-wide image is (0, 0, W, H). The files use two integer conventions, and both must
round-trip:

- **VOC**: 1-based, inclusive. xmin=1, xmax=W is the whole row, so x1 = xmin − 1 and x2 = xmax.
- **ImageNet-DET**: 0-based, inclusive (the MSRA loaders do not subtract 1), so x1 = xmin and
  x2 = xmax + 1. Class names are WordNet ids; there is no ``difficult`` tag.

XML is parsed with defusedxml (no entity expansion, no external entities). Degenerate boxes
(x2 ≤ x1 or y2 ≤ y1 after clipping to the image) are dropped and reported, never passed on to
training, where they produce NaN losses.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET  # noqa: N817 - building only; parsing uses defusedxml
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import ElementTree as SafeET

from decaf.core.images import atomic_write
from decaf.data.folders import DataError

CONVENTIONS = ("voc", "imagenet")


@dataclass
class Box:
    label: str
    x1: float
    y1: float
    x2: float
    y2: float
    difficult: bool = False

    @property
    def xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass
class Annotation:
    filename: str
    width: int
    height: int
    depth: int = 3
    boxes: list[Box] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # why boxes were left out


def _offsets(convention: str) -> tuple[int, int]:
    """(what to subtract from xmin/ymin, what to add to xmax/ymax) to get continuous boxes."""
    if convention == "voc":
        return 1, 0
    if convention == "imagenet":
        return 0, 1
    raise DataError(f"unknown box convention {convention!r}; use {' or '.join(CONVENTIONS)}")


#: Larger coordinates or sides than this are refused: no real picture has them, and a reader
#: that lets 1e400 (infinity) or NaN through trains on boxes that poison every loss.
MAX_COORDINATE = 1_000_000


def coordinate(value: object, what: str, where: object) -> float:
    """``value`` as a finite pixel coordinate, else a :class:`DataError` naming ``where``."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(f"{where}: {what} = {value!r} is not a number") from None
    if not math.isfinite(v) or abs(v) > MAX_COORDINATE:
        raise DataError(f"{where}: {what} = {value!r} is not a pixel coordinate (finite, at most "
                        f"{MAX_COORDINATE:,} in size)")  # fmt: skip
    return v


def side(value: object, what: str, where: object) -> int:
    """``value`` as a picture side in pixels (a whole number, 0 meaning unknown)."""
    v = coordinate(value, what, where)
    if v < 0 or v != int(v):
        raise DataError(f"{where}: {what} = {value!r} is not a whole number of pixels")
    return int(v)


def read_xml(path: str | os.PathLike, convention: str = "voc") -> Annotation:
    """One VOC/ImageNet-DET XML file → :class:`Annotation` (boxes clipped, degenerate dropped)."""
    start, end = _offsets(convention)
    path = Path(path)
    try:
        root = SafeET.parse(path).getroot()
    except (SafeET.ParseError, OSError) as exc:
        raise DataError(f"{path}: not a readable annotation XML ({exc})") from None
    except Exception as exc:  # defusedxml's refusals (entities, DTDs)
        raise DataError(f"{path}: refused unsafe XML ({type(exc).__name__})") from None
    if root.tag != "annotation":
        raise DataError(f"{path}: the root element is <{root.tag}>, not <annotation>")

    def text(node: ET.Element, tag: str, default: str | None = None) -> str:
        child = node.find(tag)
        if child is None or child.text is None:
            if default is not None:
                return default
            raise DataError(f"{path}: missing <{tag}>")
        return child.text.strip()

    try:
        size = root.find("size")
        width = side(text(size, "width"), "width", path) if size is not None else 0
        height = side(text(size, "height"), "height", path) if size is not None else 0
        depth = side(text(size, "depth", "3"), "depth", path) if size is not None else 3
        ann = Annotation(text(root, "filename", path.stem), width, height, depth)
        for obj in root.findall("object"):
            name = text(obj, "name")
            bb = obj.find("bndbox")
            if bb is None:
                raise DataError(f"{path}: object {name!r} has no <bndbox>")
            xmin, ymin, xmax, ymax = (coordinate(text(bb, t), f"{name} {t}", path)
                                      for t in ("xmin", "ymin", "xmax", "ymax"))  # fmt: skip
            x1, y1, x2, y2 = xmin - start, ymin - start, xmax + end, ymax + end
            if width and height:
                x1, x2 = max(0.0, x1), min(float(width), x2)
                y1, y2 = max(0.0, y1), min(float(height), y2)
            if x2 <= x1 or y2 <= y1:
                ann.dropped.append(f"{name} ({xmin:g},{ymin:g},{xmax:g},{ymax:g}): empty box")
                continue
            difficult = text(obj, "difficult", "0") in ("1", "true")
            ann.boxes.append(Box(name, x1, y1, x2, y2, difficult))
    except ValueError as exc:
        raise DataError(f"{path}: a number is not a number ({exc})") from None
    return ann


def write_xml(ann: Annotation, dest: str | os.PathLike, convention: str = "voc") -> Path:
    """:class:`Annotation` → VOC/ImageNet-DET XML with integer coordinates (atomic write)."""
    start, end = _offsets(convention)
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = ann.filename
    size = ET.SubElement(root, "size")
    for tag, value in (("width", ann.width), ("height", ann.height), ("depth", ann.depth)):
        ET.SubElement(size, tag).text = str(value)
    for b in ann.boxes:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = b.label
        if convention == "voc":
            ET.SubElement(obj, "difficult").text = "1" if b.difficult else "0"
        bb = ET.SubElement(obj, "bndbox")
        coords = (b.x1 + start, b.y1 + start, b.x2 - end, b.y2 - end)
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), coords, strict=True):
            ET.SubElement(bb, tag).text = str(int(round(value)))
    ET.indent(root)
    data = ET.tostring(root, encoding="unicode")
    return atomic_write(dest, lambda tmp: tmp.write_text(data + "\n"))
