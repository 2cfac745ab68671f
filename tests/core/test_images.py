"""The image loader refuses a generated corpus of bad files and normalises every mode to RGB."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decaf.core.errors import DecafError, ImageError
from decaf.core.images import atomic_path, load_image, save_image


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width×height pixels, with a tiny compressed body."""
    raw = zlib.compress(b"\x00" * 64)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.fixture
def corpus(tmp_path: Path, rgb_image: Image.Image) -> dict[str, Path]:
    files = {}
    files["empty"] = tmp_path / "empty.png"
    files["empty"].write_bytes(b"")
    png = _png_bytes(rgb_image)
    files["truncated_png"] = tmp_path / "truncated.png"
    files["truncated_png"].write_bytes(png[: len(png) // 2])
    buf = io.BytesIO()
    rgb_image.save(buf, format="JPEG")
    files["truncated_jpeg"] = tmp_path / "truncated.jpg"
    files["truncated_jpeg"].write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    files["text"] = tmp_path / "notes.jpg"
    files["text"].write_text("this is not a picture\n")
    files["bomb"] = tmp_path / "bomb.png"
    files["bomb"].write_bytes(_bomb_png(100_000, 100_000))
    return files


@pytest.mark.parametrize(
    ("kind", "phrase"),
    [
        ("empty", "empty"),
        ("truncated_png", "truncated"),
        ("truncated_jpeg", "truncated"),
        ("text", "not an image"),
        ("bomb", "over the limit"),
    ],
)
def test_bad_files_are_refused_with_a_named_reason(corpus, kind, phrase):
    path = corpus[kind]
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert str(path) in str(info.value)
    assert phrase in str(info.value)
    assert isinstance(info.value, DecafError)


def test_bad_bytes_and_missing_file(tmp_path):
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="not an image"):
        load_image(b"GIF? no, just text")
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_pixel_limit_is_configurable(rgb_image):
    data = _png_bytes(rgb_image)  # 96×64 = 6144 pixels
    with pytest.raises(ImageError, match="over the limit of 6,000"):
        load_image(data, max_pixels=6000)
    assert load_image(data, max_pixels=6144).size == (96, 64)
    assert load_image(data, max_pixels=None).size == (96, 64)


def test_modes_become_rgb(tmp_path, rgb_image):
    # palette with a transparent index: transparent pixels become white
    pal = rgb_image.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    idx = pal.getpixel((0, 0))
    pal.info["transparency"] = idx
    p_path = tmp_path / "p.png"
    pal.save(p_path, transparency=idx)
    out = load_image(p_path)
    assert out.mode == "RGB" and out.getpixel((0, 0)) == (255, 255, 255)

    rgba = rgb_image.convert("RGBA")
    rgba.putpixel((1, 1), (10, 20, 30, 0))
    out = load_image(_png_bytes(rgba))
    assert out.getpixel((1, 1)) == (255, 255, 255)
    assert out.getpixel((50, 40)) == rgb_image.getpixel((50, 40))

    cmyk = rgb_image.convert("CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, format="JPEG", quality=95)
    out = load_image(buf.getvalue())
    assert out.mode == "RGB"
    diff = np.abs(np.asarray(out, int) - np.asarray(rgb_image, int)).mean()
    assert diff < 12

    arr16 = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    img16 = Image.fromarray(arr16)
    assert img16.mode.startswith("I")
    out = load_image(_png_bytes(img16))
    got = np.asarray(out)[..., 0].astype(int)
    assert out.mode == "RGB"
    assert abs(got[0, 0] - 0) <= 1 and abs(got[-1, -1] - 255) <= 1

    for mode in ("L", "1", "LA"):
        out = load_image(_png_bytes(rgb_image.convert(mode)))
        assert out.mode == "RGB" and out.size == (96, 64)


def test_exif_orientation_is_applied(rgb_image):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    rgb_image.save(buf, format="JPEG", exif=exif.tobytes())
    assert load_image(buf.getvalue()).size == (64, 96)


def test_numpy_inputs():
    assert load_image(np.zeros((8, 5), np.uint8)).size == (5, 8)
    f = load_image(np.full((4, 4, 3), 0.5))
    assert f.getpixel((0, 0)) == (128, 128, 128)
    assert load_image(np.ones((4, 4), bool)).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(np.full((4, 4, 1), 65535, np.uint16)).getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(ImageError, match="NaN"):
        load_image(np.full((4, 4, 3), np.nan))
    with pytest.raises(ImageError, match="H×W"):
        load_image(np.zeros((4, 4, 2)))


def test_save_is_atomic(tmp_path, rgb_image):
    dest = tmp_path / "out.png"
    save_image(rgb_image, dest)
    assert load_image(dest).size == rgb_image.size
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
    before = dest.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half a picture")
        raise RuntimeError("killed mid-write")
    assert dest.read_bytes() == before  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]  # no temp left behind


def test_save_refuses_unknown_type_and_missing_folder(tmp_path, rgb_image):
    with pytest.raises(ImageError, match="unknown picture type"):
        save_image(rgb_image, tmp_path / "x.gifv")
    with pytest.raises(ImageError, match="does not exist"):
        save_image(rgb_image, tmp_path / "nope" / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_probed_by_writing(tmp_path) -> None:
    from pathlib import Path

    from decaf.core.errors import OptionError
    from decaf.core.images import writable_file

    assert writable_file(tmp_path / "ok.png") == tmp_path / "ok.png"
    assert not list(tmp_path.iterdir())  # the probe leaves nothing behind
    if Path("/sys/kernel").is_dir():  # root may "write" there by its bits, yet cannot
        with pytest.raises(OptionError, match="/sys/kernel"):
            writable_file("/sys/kernel/decaf-out.png")


def test_unreadable_picture_is_an_image_error(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    from decaf.core.errors import ImageError
    from decaf.core.images import load_image

    pic = tmp_path / "locked.png"
    pic.write_bytes(b"\x89PNG\r\n\x1a\n rest")

    def refuse(self, *a, **k):  # what open() does to a user without read permission
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ImageError, match="locked.png: cannot be read .Permission denied"):
        load_image(pic)


def test_folder_outputs_in_unwritable_places_are_option_errors() -> None:
    from pathlib import Path

    from decaf.core.errors import OptionError
    from decaf.core.images import atomic_dir

    if not Path("/sys/kernel").is_dir():
        pytest.skip("no /sys here")
    with (
        pytest.raises(OptionError, match="/sys/kernel/out: cannot write there"),
        atomic_dir("/sys/kernel/out"),
    ):
        pass
