"""Image input and output: one safe loader and one atomic writer for every picture decaf touches.

Why one loader: every task (stylize, classify, detect, serve) must reject the same bad inputs
with the same clear message, apply EXIF orientation the same way and see the same RGB pixels.
Pillow does the decoding; this module adds the checks Pillow leaves to the caller (empty
files, truncation, a pixel budget checked *before* decoding) and the mode conversions.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from decaf.core.errors import DecafError, ImageError, OptionError, WriteError

#: Default pixel budget (width × height) for any decoded image: 89.5 MP, Pillow's own warning
#: threshold. A 10 kB PNG can claim 100 000 × 100 000 pixels (a decompression bomb); we refuse
#: it from the header, before a byte of pixel data is decoded.
DEFAULT_MAX_PIXELS = 89_478_485

#: What counts as a picture when a folder is searched.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | Image.Image | np.ndarray

_SAVE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def is_picture_file(path: Path) -> bool:
    """A visible file with a picture extension (hidden files are editor and OS clutter)."""
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and path.name[0] != "."


def find_pictures(root: str | os.PathLike) -> list[Path]:
    """Every picture under the folder ``root``, recursively, in sorted order."""
    return sorted(p for p in Path(root).rglob("*") if is_picture_file(p))


def picture_paths(target: str | os.PathLike) -> list[Path]:
    """``target`` itself, or the pictures in the folder ``target``; a folder without pictures or
    a missing path is an :class:`OptionError` naming it."""
    target = Path(target)
    if target.is_dir():
        found = find_pictures(target)
        if not found:
            raise OptionError(f"{target}: no pictures in this folder")
        return found
    if not target.exists():
        raise OptionError(f"{target}: no such file or folder")
    return [target]


def _describe(src: object, name: str | None) -> str:
    if name:
        return name
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{len(src)} bytes>"
    if isinstance(src, np.ndarray):
        return f"<array {src.shape} {src.dtype}>"
    return f"<{type(src).__name__}>"


def load_image(
    src: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> Image.Image:
    """Read any supported image source and return a fully decoded 8-bit RGB ``PIL.Image``.

    ``src`` may be a path, the encoded bytes of a file, a ``PIL.Image`` or a numpy array
    (H×W, H×W×1, H×W×3 or H×W×4; uint8, uint16, bool or float in [0, 1]). EXIF orientation
    is applied; palette, alpha (composited on white), CMYK, 16-bit and grayscale images become
    RGB. ``max_pixels`` bounds width × height (``None`` disables the check).

    Raises :class:`ImageError` naming the source for a missing, empty, truncated or non-image
    file and for an image over the pixel budget.
    """
    label = _describe(src, name)
    if isinstance(src, np.ndarray):
        img = _from_array(src, label)
        _check_pixels(img.size, max_pixels, label)
        return img
    if isinstance(src, Image.Image):
        _check_pixels(src.size, max_pixels, label)
        return _to_rgb(ImageOps.exif_transpose(src), label)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise ImageError(f"{label}: the image data is empty (0 bytes)")
        return _decode(io.BytesIO(data), label, max_pixels)
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.exists():
            raise ImageError(f"{label}: no such file")
        if path.is_dir():
            raise ImageError(f"{label}: is a directory, not an image file")
        if path.stat().st_size == 0:
            raise ImageError(f"{label}: the file is empty (0 bytes)")
        try:
            fh = path.open("rb")
        except OSError as exc:  # no read permission, a FIFO that vanished, ...
            raise ImageError(f"{label}: cannot be read ({exc.strerror or exc})") from None
        with fh:
            return _decode(fh, label, max_pixels)
    raise ImageError(
        f"{label}: cannot read an image from a {type(src).__name__}; "
        "give a path, bytes, a PIL image or a numpy array"
    )


def _check_pixels(size: tuple[int, int], max_pixels: int | None, label: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{label}: the image has no pixels ({w}×{h})")
    if max_pixels is not None and w * h > max_pixels:
        raise ImageError(
            f"{label}: {w}×{h} = {w * h:,} pixels is over the limit of {max_pixels:,} "
            "(a possible decompression bomb); raise max_pixels if you trust this file"
        )


_PILLOW_LIMIT_LOCK = threading.Lock()


@contextmanager
def _pillow_limit(max_pixels: int | None) -> Iterator[None]:
    """Let decaf's limit, not Pillow's global one, decide.

    Pillow raises ``DecompressionBombError`` inside ``Image.open`` above 2 × its global
    ``MAX_IMAGE_PIXELS``; a caller who raised ``max_pixels`` past that (or disabled it) gets the
    global lifted for the duration of the open, under a lock.
    """
    default = Image.MAX_IMAGE_PIXELS
    if default is None or (max_pixels is not None and max_pixels <= 2 * default):
        yield
        return
    with _PILLOW_LIMIT_LOCK:
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = default


def _decode(fh: IO[bytes], label: str, max_pixels: int | None) -> Image.Image:
    try:
        with warnings.catch_warnings(), _pillow_limit(max_pixels):
            # Pillow's warning duplicates our own check, which is configurable
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fh)
            _check_pixels(img.size, max_pixels, label)
            img.load()
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{label}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{label}: over the limit of {max_pixels:,} pixels (a possible decompression bomb: "
            f"{exc}); raise max_pixels if you trust this file"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise ImageError(f"{label}: the image is damaged or truncated ({reason})") from None
    return _to_rgb(ImageOps.exif_transpose(img), label)


def _to_rgb(img: Image.Image, label: str) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparent pixels become white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16"):
            scale = 65535.0
        else:
            hi = float(arr.max()) if arr.size else 1.0
            scale = 65535.0 if hi > 255 else (1.0 if mode == "F" and hi <= 1.0 else 255.0)
        arr8 = np.clip(np.round(arr / scale * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L").convert("RGB")
    try:
        return img.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV
    except (ValueError, OSError) as exc:
        raise ImageError(f"{label}: cannot convert image mode {mode!r} to RGB ({exc})") from None


def _from_array(arr: np.ndarray, label: str) -> Image.Image:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageError(f"{label}: expected an H×W, H×W×1, H×W×3 or H×W×4 array")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = np.round(a / 257.0).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError(f"{label}: the array holds NaN or infinite values")
        a = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        if a.min() < 0 or a.max() > 255:
            raise ImageError(f"{label}: integer array values must lie in 0..255")
        a = a.astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(a))
    return _to_rgb(img, label)


def writable_file(dest: str | os.PathLike, suffixes: tuple[str, ...] = (),
                  what: str = "file") -> Path:  # fmt: skip
    """``dest`` as a path, checked before any work: its suffix (one of ``suffixes``, when given)
    and a folder that exists and can be written to. The one place outputs are checked."""
    dest = Path(dest)
    if suffixes and dest.suffix.lower() not in suffixes:
        raise OptionError(f"{dest}: a {what} is a {' or '.join(suffixes)} file")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise OptionError(f"{dest}: the folder {parent} does not exist")
    if dest.is_dir():
        raise OptionError(f"{dest}: is a folder, not a {what}")
    _probe(dest, parent)
    return dest


def _probe(dest: Path, parent: Path) -> None:
    """Create and remove a file beside ``dest``. Why not ``os.access``: it says yes to root
    for /sys and other pseudo file systems, and it knows nothing of full disks or quotas."""
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OptionError(f"{dest}: the folder {parent} is not writable")
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".decaf-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OptionError(f"{dest}: cannot write in {parent} ({exc.strerror or exc})") from None


def temp_dir_beside(dest: Path) -> Path:
    """A new private folder next to ``dest`` (creating ``dest``'s parents): where a folder output
    is built before it is renamed into place. A place that cannot be written is an
    :class:`OptionError` naming ``dest``, raised before any work."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    except OSError as exc:
        raise OptionError(f"{dest}: cannot write there ({exc.strerror or exc})") from None


@contextmanager
def atomic_dir(dest: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; on success it replaces ``dest`` whole.

    A non-empty ``dest`` is refused unless ``force``; a failure or Ctrl-C inside the block
    removes the temporary folder, so ``dest`` appears complete or not at all.
    """
    import shutil

    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise OptionError(f"{dest}: exists and is not empty (use --force to replace it)")
    tmp = temp_dir_beside(dest)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


#: errno values that mean the disk (or a limit) is full rather than a bug
_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


@contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it onto ``dest``.

    A crash, Ctrl-C or exception inside the block leaves ``dest`` untouched (the old file or
    none) and removes the temporary file, so readers never see a half-written result.
    """
    dest = Path(dest)
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise ImageError(f"{dest}: the folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix + ".part", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, dest)
    except OSError as exc:
        if exc.errno not in _FULL or isinstance(exc, DecafError):
            raise
        raise WriteError(f"{dest}: not written ({os.strerror(exc.errno)}); "
                         f"{'the old file is kept' if dest.exists() else 'nothing was left'}"
                         ) from None  # fmt: skip
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(dest: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        write(tmp)
    return Path(dest)


def image_format_for(path: str | os.PathLike) -> str:
    """The Pillow format name for an output path, or an :class:`ImageError` naming the choices."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SAVE_FORMATS:
        allowed = ", ".join(sorted(_SAVE_FORMATS))
        raise ImageError(
            f"{path}: unknown picture type {suffix or '(none)'!r}; use one of {allowed}"
        )
    return _SAVE_FORMATS[suffix]


def save_image(img: Image.Image, dest: str | os.PathLike, **params: object) -> Path:
    """Save ``img`` to ``dest`` atomically; the format follows the file extension."""
    fmt = image_format_for(dest)
    if fmt == "JPEG":
        params.setdefault("quality", 95)
        img = img.convert("RGB")
    return atomic_write(dest, lambda tmp: img.save(tmp, format=fmt, **params))
