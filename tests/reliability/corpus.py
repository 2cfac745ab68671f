"""A corpus of hostile and unusual inputs, generated (never stored): every file kind decaf reads.

``bad_files(root)`` returns (kind, name, path) for inputs every command must refuse with one
``error:`` line; ``odd_pictures(root)`` returns pictures that are strange but valid (CMYK,
16-bit, palette, animated, multi-page, EXIF-rotated), which must work."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from decaf.caffe.proto import caffe_pb2

DEPLOY = """name: "tiny"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 2 kernel_size: 3 } }
"""


def _png(size: tuple[int, int] = (16, 16), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, "PNG")
    return buf.getvalue()


def _bomb_png() -> bytes:
    """A 1-bit PNG declaring 30000 × 30000 pixels (900 MP) in a few hundred bytes."""
    buf = io.BytesIO()
    Image.new("1", (30000, 30000)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _pictures(root: Path) -> list[tuple[str, str, Path]]:
    good = _png()
    jpg = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 30)).save(jpg, "JPEG")
    cases = {
        "zero_bytes.png": b"",
        "truncated.png": good[: len(good) // 2],
        "truncated.jpg": jpg.getvalue()[:200],
        "not_an_image.jpg": b"GIF89a but really text " * 20,
        "text.png": b"hello, I am a text file\n",
        "bomb.png": _bomb_png(),
        "html.jpg": b"<html><body>nope</body></html>",
    }
    out = []
    for name, data in cases.items():
        path = root / name
        path.write_bytes(data)
        out.append(("image", name, path))
    return out


def _caffe_files(root: Path) -> list[tuple[str, str, Path]]:
    out = []
    texts = {
        "syntax.prototxt": 'layer { name: "x" type: "ReLU" colour: 3 }\n',
        "unknown_type.prototxt": DEPLOY
        + 'layer { name: "w" type: "Warp" bottom: "conv" top: "w" }',
        "huge_input.prototxt": DEPLOY.replace("dim: 8 dim: 8", "dim: 900000 dim: 900000"),
        "negative_dim.prototxt": DEPLOY.replace("dim: 8 dim: 8", "dim: -8 dim: 8"),
        "cycle.prototxt": DEPLOY + 'layer { name: "r" type: "ReLU" bottom: "nowhere" top: "r" }',
        "empty.prototxt": "",
        "binary.prototxt": "\x00\x01\x02\xff" * 50,
    }
    for name, text in texts.items():
        path = root / name
        path.write_text(text, errors="surrogateescape") if "\x00" not in text else \
            path.write_bytes(text.encode("latin-1"))  # fmt: skip
        out.append(("prototxt", name, path))
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend([2**40, 2**40])
    net = caffe_pb2.NetParameter()
    layer = net.layer.add(name="conv", type="Convolution")
    layer.blobs.add().CopyFrom(blob)
    binaries = {
        "garbage.caffemodel": ("caffemodel", b"\x08\x96\x01garbage" * 100),
        "truncated.caffemodel": ("caffemodel", net.SerializeToString()[:-3]),
        "overflow.caffemodel": ("caffemodel", net.SerializeToString()),
        "garbage.binaryproto": ("binaryproto", b"\xff" * 64),
        "overflow.binaryproto": ("binaryproto", blob.SerializeToString()),
        "zero.binaryproto": ("binaryproto", b""),
        "garbage.solverstate": ("solverstate", b"\x12\xff\xff\xff\xff\x0f"),
    }
    for name, (kind, data) in binaries.items():
        path = root / name
        path.write_bytes(data)
        out.append((kind, name, path))
    return out


def _databases(root: Path) -> list[tuple[str, str, Path]]:
    lmdb_dir = root / "garbage_lmdb"
    lmdb_dir.mkdir()
    (lmdb_dir / "data.mdb").write_bytes(b"\x00" * 4096)
    level = root / "garbage_leveldb"
    level.mkdir()
    (level / "CURRENT").write_text("MANIFEST-000099\n")
    return [("lmdb", "garbage_lmdb", lmdb_dir), ("leveldb", "garbage_leveldb", level)]


def _annotations(root: Path) -> list[tuple[str, str, Path]]:
    out = []
    lol = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
           '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
           '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n'
           "<annotation><filename>&lol3;</filename></annotation>\n")  # fmt: skip
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
           "<annotation><filename>&x;</filename></annotation>\n")  # fmt: skip
    for name, text in {"laughs.xml": lol, "xxe.xml": xxe, "broken.xml": "<annotation><obj"}.items():
        voc = root / f"voc_{Path(name).stem}"
        (voc / "Annotations").mkdir(parents=True)
        (voc / "JPEGImages").mkdir()
        (voc / "ImageSets" / "Main").mkdir(parents=True)
        (voc / "ImageSets" / "Main" / "train.txt").write_text("a\n")
        (voc / "JPEGImages" / "a.jpg").write_bytes(_png())
        (voc / "Annotations" / "a.xml").write_text(text)
        out.append(("voc", name, voc))
    cocos = {
        "deep.json": "[" * 100000 + "]" * 100000,
        "not_json.json": "{images: nope",
        "escape.json": json.dumps({"images": [{"id": 1, "file_name": "../../etc/passwd",
                                               "width": 8, "height": 8}],
                                   "annotations": [], "categories": [{"id": 1, "name": "x"}]}),
        "nan.json": '{"images": [{"id": 1, "file_name": "a.png", "width": NaN, "height": 8}], '
                    '"annotations": [], "categories": []}',
    }  # fmt: skip
    for name, text in cocos.items():
        coco = root / f"coco_{Path(name).stem}"
        coco.mkdir()
        (coco / "a.png").write_bytes(_png())
        (coco / "instances_train.json").write_text(text)
        out.append(("coco", name, coco))
    return out


def _lists_and_bundles(root: Path) -> list[tuple[str, str, Path]]:
    (root / "ok.png").write_bytes(_png())
    lists = {
        "missing.txt": "nope.png 0\n",
        "label_text.txt": "ok.png cat\n",
        "negative.txt": "ok.png -3\n",
        "huge_label.txt": "ok.png 100000000000\n",
        "escape.txt": "../../../../etc/passwd 0\n",
    }
    out = []
    for name, text in lists.items():
        path = root / name
        path.write_text(text)
        out.append(("list", name, path))
    bundles = {"zero.pt": b"", "text.pt": b"not a zip", "truncated.pt": b"PK\x03\x04" + b"\0" * 30}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            "archive/data.pkl",
            b"\x80\x02cos\nsystem\nq\x00X\x05\x00\x00\x00touchq\x01\x85q\x02Rq\x03.",
        )
    bundles["pickle_rce.pt"] = buf.getvalue()
    for name, data in bundles.items():
        path = root / name
        path.write_bytes(data)
        out.append(("bundle", name, path))
    video = root / "broken.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    out.append(("video", "broken.mp4", video))
    return out


def bad_files(root: Path) -> list[tuple[str, str, Path]]:
    """Every hostile input, by kind: image, prototxt, caffemodel, binaryproto, solverstate,
    lmdb, leveldb, voc, coco, list, bundle, video."""
    root.mkdir(parents=True, exist_ok=True)
    return [*_pictures(root), *_caffe_files(root), *_databases(root), *_annotations(root),
            *_lists_and_bundles(root)]  # fmt: skip


def odd_pictures(root: Path) -> list[tuple[str, Path, tuple[int, int]]]:
    """Valid pictures of unusual kinds, with the (width, height) they must load as."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (24, 40, 3), dtype=np.uint8))
    out = []
    rgb.convert("CMYK").save(root / "cmyk.jpg")
    out.append(("cmyk", root / "cmyk.jpg", (40, 24)))
    Image.fromarray((rng.random((24, 40)) * 65535).astype(np.uint16)).save(root / "gray16.png")
    out.append(("16-bit", root / "gray16.png", (40, 24)))
    rgb.convert("P", palette=Image.Palette.ADAPTIVE).save(root / "palette.png")
    out.append(("palette", root / "palette.png", (40, 24)))
    rgb.convert("LA").save(root / "grey_alpha.png")
    out.append(("grey+alpha", root / "grey_alpha.png", (40, 24)))
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(root / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    out.append(("animated", root / "animated.gif", (40, 24)))
    frames[0].save(root / "pages.tiff", save_all=True, append_images=frames[1:])
    out.append(("multi-page", root / "pages.tiff", (40, 24)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    rgb.save(root / "rotated.jpg", exif=exif)
    out.append(("EXIF-rotated", root / "rotated.jpg", (24, 40)))
    return out
