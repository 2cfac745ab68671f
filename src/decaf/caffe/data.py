"""Caffe's data path: LMDB of ``Datum`` (convert_imageset) and the ``Data`` layer that reads it.

:func:`write_lmdb` does what ``convert_imageset`` does: each picture (optionally resized, grey
or colour) becomes a ``Datum`` of uint8 CHW bytes in **BGR** order (Caffe read images with
OpenCV) under the key ``%08d_<filename>``, in list order (optionally shuffled). :class:`DataLayer`
reads it like Caffe's: a cursor that wraps to the first key, ``batch_size`` per forward, and the
``transform_param`` rules — (x − mean)·scale, random crop in TRAIN and centred in TEST, random
mirror in *both* phases when ``mirror: true``. LevelDB sources (Caffe's default backend, used by
the MNIST/CIFAR converters and the siamese example) are read through ``plyvel``, whose bundled
LevelDB reads Caffe's snappy-compressed tables; whichever kind the folder holds is read.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decaf.caffe import io as cio
from decaf.caffe.layers import CaffeLayer, CaffeLayerError
from decaf.caffe.proto import caffe_pb2
from decaf.core.errors import ImageError, OptionError, WriteError
from decaf.core.images import load_image, temp_dir_beside

MAP_SIZE = 1 << 40  # LMDB reserves address space, not disk


@contextmanager
def _new_lmdb(dest: Path, exists: str = "already exists") -> Iterator[Any]:
    """A write transaction on a new LMDB built in a folder beside ``dest`` and renamed onto it
    when the block ends well: the database appears complete or not at all. A failure (a full
    disk too: LMDB reports a failed write as its own error) leaves neither ``dest`` nor the
    temporary folder."""
    import lmdb

    if dest.exists():
        raise OptionError(f"{dest}: {exists}")
    tmp = temp_dir_beside(dest)
    try:
        env = lmdb.open(str(tmp), map_size=MAP_SIZE, subdir=True)
        try:
            with env.begin(write=True) as txn:
                yield txn
        finally:
            env.close()
        tmp.rename(dest)
    except lmdb.Error as exc:
        raise WriteError(f"{dest}: not written ({exc}); nothing was left") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_lmdb(
    samples: list[tuple[Path, int]],
    dest: str | os.PathLike,
    resize: tuple[int, int] | None = None,
    gray: bool = False,
    shuffle: bool = False,
    seed: int = 0,
    progress: Any = None,
    on_bad: Any = None,
) -> int:
    """Write ``(path, label)`` samples as an LMDB of Datum; the folder appears complete or not.

    A picture that fails to decode stops the job, unless ``on_bad(path, why)`` is given: it is
    told, and the picture left out (``ImageSet.bad_file`` raises itself under "stop")."""
    from PIL import Image

    order = list(samples)
    if shuffle:
        random.Random(seed).shuffle(order)
    written = 0
    with _new_lmdb(Path(dest), "already exists (convert_imageset refuses too)") as txn:
        for i, (path, label) in enumerate(order):
            try:
                img = load_image(path)
            except ImageError as exc:
                if on_bad is None:
                    raise
                on_bad(Path(path), str(exc))
                continue
            if resize is not None:
                img = img.resize((resize[1], resize[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(img.convert("L"))[..., None] if gray else np.asarray(img)
            arr = arr[..., ::-1] if not gray else arr  # RGB → BGR
            chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
            datum = caffe_pb2.Datum(
                channels=chw.shape[0], height=chw.shape[1], width=chw.shape[2],
                data=chw.tobytes(), label=int(label),
            )  # fmt: skip
            txn.put(f"{written:08d}_{Path(path).name}".encode(), datum.SerializeToString())
            written += 1
            if progress:
                progress(i + 1, len(order))
    return written


def copy_to_lmdb(src: str | os.PathLike, dest: str | os.PathLike, progress: Any = None) -> int:
    """A LevelDB (or LMDB) of Datum records copied, key for key, into a new LMDB: the folder
    appears complete or not. Each record must parse as a Datum."""
    written = 0
    with _new_lmdb(Path(dest)) as txn:
        for key, value in iter_records(src):
            try:
                caffe_pb2.Datum().ParseFromString(value)
            except Exception:  # noqa: BLE001 - protobuf's DecodeError differs by backend
                raise CaffeLayerError(f"{src}: record {key[:60]!r} is not a Datum") from None
            txn.put(key, value)
            written += 1
            if progress:
                progress(written, None)
    return written


def datum_to_array(datum: Any) -> np.ndarray:
    """A Datum's pixels as float32 (C, H, W)."""
    if datum.encoded:
        import io

        from PIL import Image

        img = np.asarray(Image.open(io.BytesIO(datum.data)))
        img = img[..., None] if img.ndim == 2 else img[..., ::-1]  # decode → BGR
        return img.transpose(2, 0, 1).astype(np.float32)
    return cio.datum_to_array(datum).astype(np.float32)


def resolve_source(source: str, base: Path | None) -> Path:
    """A data path as given (relative to the working folder), else relative to ``base``, else its
    last component inside ``base`` — so BVLC prototxts written for the Caffe root still run."""
    path = Path(source)
    candidates = [path]
    if base is not None and not path.is_absolute():
        candidates += [base / path, base / path.name]
    for c in candidates:
        if c.exists():
            return c
    raise CaffeLayerError(
        f"data source {source!r} not found (looked in {[str(c) for c in candidates]})"
    )


def is_leveldb(path: Path) -> bool:
    return path.is_dir() and (path / "CURRENT").is_file() and not (path / "data.mdb").exists()


def backend_of(path: Path, declared: int | None = None) -> str:
    """ "lmdb" or "leveldb": what the folder holds (an LMDB has data.mdb, a LevelDB CURRENT),
    else what the prototxt declares (Caffe's default is LevelDB)."""
    if (path / "data.mdb").is_file() or path.is_file():
        return "lmdb"
    if is_leveldb(path):
        return "leveldb"
    return "lmdb" if declared == caffe_pb2.DataParameter.LMDB else "leveldb"


def _open(path: Path, backend: str) -> Any:
    if backend == "leveldb":
        import plyvel

        try:
            return plyvel.DB(str(path), create_if_missing=False)
        except plyvel.Error as exc:
            raise CaffeLayerError(f"{path}: not a readable LevelDB ({exc})") from None
    import lmdb

    try:
        return lmdb.open(str(path), readonly=True, lock=False, subdir=path.is_dir())
    except lmdb.Error as exc:
        raise CaffeLayerError(f"{path}: not a readable LMDB ({exc})") from None


class _LevelCursor:
    """A LevelDB iterator with py-lmdb's cursor calls (first/next/value), sorted by key."""

    def __init__(self, db: Any) -> None:
        self._it = db.iterator()
        self._item: tuple[bytes, bytes] | None = None

    def first(self) -> bool:
        self._it.seek_to_start()
        return self.next()

    def next(self) -> bool:
        self._item = next(self._it, None)
        return self._item is not None

    def value(self) -> bytes:
        assert self._item is not None
        return self._item[1]

    def close(self) -> None:
        self._it.close()  # before its database closes: plyvel crashes on a dangling iterator


def _let_go(cursor: Any, key: str) -> None:
    if isinstance(cursor, _LevelCursor):
        cursor.close()
    ENVIRONMENTS.release(key)


def cursor(env: Any, backend: str) -> tuple[Any, Any]:
    """(a handle to keep, a cursor over the records in key order) for an open database."""
    if backend == "leveldb":
        return None, _LevelCursor(env)
    txn = env.begin()
    return txn, txn.cursor()


def iter_records(path: str | os.PathLike) -> Any:
    """Every (key, value) of an LMDB or LevelDB, in key order (for conversion)."""
    path = Path(path)
    backend = backend_of(path)
    key, env = ENVIRONMENTS.acquire(path, backend)
    try:
        if backend == "leveldb":
            with env.iterator() as it:
                yield from it
        else:
            with env.begin() as txn:
                yield from txn.cursor()
    finally:
        ENVIRONMENTS.release(key)


class _SharedEnvironments:
    """Read-only LMDB and LevelDB handles shared by the layers of this process, counted and
    closed.

    Neither LMDB nor LevelDB lets one process open a database twice, and a train and a test net
    often read the same source, so layers share one; the last layer to let go closes it. The
    lock makes acquiring and releasing safe from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Any, int]] = {}

    def acquire(self, path: Path, backend: str = "lmdb") -> tuple[str, Any]:
        key = str(path.resolve())
        with self._lock:
            env, users = self._open.get(key, (None, 0))
            if env is None:
                env = _open(Path(key), backend)
            self._open[key] = (env, users + 1)
        return key, env

    def release(self, key: str) -> None:
        with self._lock:
            env, users = self._open.pop(key, (None, 0))
            if env is None:
                return
            if users > 1:
                self._open[key] = (env, users - 1)
            else:
                env.close()  # py-lmdb invalidates the transactions and cursors still open on it

    def count(self) -> int:
        with self._lock:
            return len(self._open)


ENVIRONMENTS = _SharedEnvironments()


class _SourceLayer(CaffeLayer):
    """A layer that makes batches (no bottoms) and applies ``transform_param``."""

    batch: int

    def _setup_transform(self, lp: Any, chw: tuple[int, ...], base: Path | None) -> None:
        t = lp.transform_param
        self.scale, self.mirror, self.crop = t.scale, t.mirror, t.crop_size
        c, h, w = chw
        self.mean: np.ndarray | None = None
        if t.mean_file:
            if t.mean_value:
                raise CaffeLayerError(f"{lp.name}: give mean_file or mean_value, not both")
            self.mean = cio.read_mean(resolve_source(t.mean_file, base))
        elif t.mean_value:
            values = list(t.mean_value)
            self.mean = np.asarray(values * c if len(values) == 1 else values, np.float32)[
                :, None, None
            ]
        size = (self.crop, self.crop) if self.crop else (h, w)
        self.shapes = [(self.batch, c, *size), (self.batch,)]

    def _transform(self, x: np.ndarray) -> np.ndarray:
        """(x − mean)·scale with crop and mirror; a full-size mean is cropped at the same spot."""
        _, h, w = x.shape
        top = left = 0
        ch, cw = h, w
        if self.crop:
            ch = cw = self.crop
            if self.phase == 0:
                top, left = random.randint(0, h - ch), random.randint(0, w - cw)
            else:
                top, left = (h - ch) // 2, (w - cw) // 2
        x = x[:, top : top + ch, left : left + cw]
        if self.mean is not None:
            m = self.mean
            if m.shape[1:] != (1, 1):
                m = m[:, top : top + ch, left : left + cw]
            x = x - m
        if self.mirror and random.random() < 0.5:
            x = x[:, :, ::-1]
        return x * self.scale


class DataLayer(_SourceLayer):
    """Caffe's ``Data`` layer over an LMDB; tops: data (and label)."""

    def __init__(self, lp: Any, phase: int, base: Path | None = None) -> None:
        super().__init__(lp, [], phase)
        p = lp.data_param
        if p.batch_size < 1:
            raise CaffeLayerError(f"{lp.name}: data_param.batch_size is required")
        self.source = resolve_source(p.source, base)
        self.backend = backend_of(self.source, p.backend)
        key, self.env = ENVIRONMENTS.acquire(self.source, self.backend)
        self.batch = p.batch_size
        self.txn, self.cursor = cursor(self.env, self.backend)
        # close() lets go of the database now; garbage collection does it otherwise
        self.close = weakref.finalize(self, _let_go, self.cursor, key)
        if not self.cursor.first():
            raise CaffeLayerError(f"{lp.name}: {self.source} is empty")
        for _ in range(p.rand_skip and random.randint(0, p.rand_skip)):
            self._advance()
        # under torchrun (TRAIN), rank r reads batch r of every global batch, as Caffe's
        # multi-GPU data reader hands each solver its own records
        from decaf.train.distributed import setup

        world = setup()
        self.skip = (world.size - 1) * self.batch if phase == 0 else 0
        for _ in range(world.rank * self.batch if phase == 0 else 0):
            self._advance()
        self._setup_transform(lp, datum_to_array(self._peek()).shape, base)

    def _peek(self) -> Any:
        datum = caffe_pb2.Datum()
        datum.ParseFromString(self.cursor.value())
        return datum

    def _advance(self) -> None:
        if not self.cursor.next():
            self.cursor.first()  # wrap around, as Caffe's cursor does

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        data, labels = [], []
        for _ in range(self.batch):
            datum = self._peek()
            data.append(self._transform(datum_to_array(datum)))
            labels.append(datum.label)
            self._advance()
        for _ in range(self.skip):
            self._advance()
        x = torch.from_numpy(np.ascontiguousarray(np.stack(data), np.float32))
        return x, torch.tensor(labels, dtype=torch.float32)


class ImageDataLayer(_SourceLayer):
    """Caffe's ``ImageData``: a list file of "path label" lines, pictures read from disk (BGR),
    optionally resized to new_height × new_width and shuffled each pass."""

    def __init__(self, lp: Any, phase: int, base: Path | None = None) -> None:
        super().__init__(lp, [], phase)
        from decaf.data.folders import from_list

        p = lp.image_data_param
        source = resolve_source(p.source, base)
        root = Path(p.root_folder) if p.root_folder else source.parent
        self.samples = from_list(source, root).samples
        self.batch = max(1, p.batch_size)
        self.size = (p.new_height, p.new_width) if p.new_height and p.new_width else None
        self.color = p.is_color
        self.shuffle = p.shuffle
        self.pos = 0
        if self.shuffle:
            random.shuffle(self.samples)
        self._setup_transform(lp, self._read(0).shape, base)

    def _read(self, i: int) -> np.ndarray:
        from PIL import Image

        img = load_image(self.samples[i][0])
        if self.size is not None:
            img = img.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
        arr = np.asarray(img, np.float32)[..., ::-1] if self.color else np.asarray(
            img.convert("L"), np.float32)[..., None]  # fmt: skip
        return np.ascontiguousarray(arr.transpose(2, 0, 1))

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        data, labels = [], []
        for _ in range(self.batch):
            data.append(self._transform(self._read(self.pos)))
            labels.append(self.samples[self.pos][1])
            self.pos += 1
            if self.pos == len(self.samples):
                self.pos = 0
                if self.shuffle:
                    random.shuffle(self.samples)
        x = torch.from_numpy(np.ascontiguousarray(np.stack(data), np.float32))
        return x, torch.tensor(labels, dtype=torch.float32)


class HDF5DataLayer(_SourceLayer):
    """Caffe's ``HDF5Data``: ``source`` lists .h5 files; each holds one dataset per top (same
    first dimension). Rows are served ``batch_size`` at a time, file after file, wrapping; with
    ``shuffle`` the file order and the rows within a file are shuffled each pass."""

    def __init__(self, lp: Any, phase: int, base: Path | None = None) -> None:
        super().__init__(lp, [], phase)
        import h5py

        p = lp.hdf5_data_param
        listing = resolve_source(p.source, base)
        files = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        if not files:
            raise CaffeLayerError(f"{lp.name}: {listing} lists no HDF5 files")
        self.tops = list(lp.top)
        self.arrays: list[dict[str, np.ndarray]] = []
        for name in files:
            path = resolve_source(name, listing.parent)
            try:
                with h5py.File(path, "r") as f:
                    self.arrays.append({t: np.asarray(f[t], np.float32) for t in self.tops})
            except (OSError, KeyError) as exc:
                raise CaffeLayerError(f"{lp.name}: cannot read {path}: {exc}") from None
        self.batch = max(1, p.batch_size)
        self.shuffle = p.shuffle
        self.file, self.row = 0, 0
        self.order = self._rows(0)
        self.shapes = [(self.batch, *self.arrays[0][t].shape[1:]) for t in self.tops]

    def _rows(self, i: int) -> list[int]:
        rows = list(range(len(self.arrays[i][self.tops[0]])))
        if self.shuffle:
            random.shuffle(rows)
        return rows

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        picked: dict[str, list[np.ndarray]] = {t: [] for t in self.tops}
        for _ in range(self.batch):
            r = self.order[self.row]
            for t in self.tops:
                picked[t].append(self.arrays[self.file][t][r])
            self.row += 1
            if self.row == len(self.order):
                self.file = (self.file + 1) % len(self.arrays)
                self.row, self.order = 0, self._rows(self.file)
        return tuple(torch.from_numpy(np.stack(picked[t])) for t in self.tops)


class HDF5OutputLayer(CaffeLayer):
    """Caffe's ``HDF5Output``: writes bottom 0 as dataset ``data`` and bottom 1 as ``label`` to
    ``file_name``. Caffe rewrites them on every forward; here each forward's rows are appended,
    so a whole test pass ends up in the file."""

    def __init__(self, lp: Any, bottoms: list[tuple[int, ...]], phase: int,
                 base: Path | None = None) -> None:  # fmt: skip
        super().__init__(lp, bottoms, phase)
        name = Path(lp.hdf5_output_param.file_name)
        self.path = name if name.is_absolute() or base is None else base / name
        self.names = ["data", "label"][: len(bottoms)]
        self.started = False

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        import h5py

        mode = "a" if self.started else "w"
        with h5py.File(self.path, mode) as f:
            for name, x in zip(self.names, bottoms, strict=False):
                arr = x.detach().cpu().numpy().astype(np.float32)
                if name in f:
                    ds = f[name]
                    ds.resize(ds.shape[0] + len(arr), axis=0)
                    ds[-len(arr) :] = arr
                else:
                    f.create_dataset(name, data=arr, maxshape=(None, *arr.shape[1:]))
        self.started = True
        return ()


class WindowDataLayer(_SourceLayer):
    """R-CNN's ``WindowData``: warped windows sampled from a window file.

    The file repeats ``# index``, image path, channels, height, width, the window count, then
    ``label overlap x1 y1 x2 y2`` per window. Windows with overlap ≥ fg_threshold are foreground
    (label kept), those below bg_threshold background (label 0). Each batch takes
    ⌊batch·fg_fraction⌋ foreground and the rest background windows at random; a window is grown
    by ``context_pad`` (and made square with ``crop_mode: "square"``), clipped to the image,
    warped to crop_size with bilinear resampling, placed where its clipped part falls, mirrored
    at random with ``mirror``, and (pixel − mean) · scale with the mean image's centre.
    """

    def __init__(self, lp: Any, phase: int, base: Path | None = None) -> None:
        super().__init__(lp, [], phase)
        p = lp.window_data_param
        t = lp.transform_param
        self.crop = t.crop_size or p.crop_size
        if self.crop < 1:
            raise CaffeLayerError(f"{lp.name}: WindowData needs crop_size")
        self.batch = p.batch_size
        # the upgrade may have moved scale/mirror/crop_size/mean_file into transform_param
        self.scale = p.scale if p.HasField("scale") else t.scale
        self.mirror = t.mirror or p.mirror
        self.context_pad = p.context_pad
        self.square = p.crop_mode == "square"
        self.fg_fraction = p.fg_fraction
        source = resolve_source(p.source, base)
        self.images: list[str] = []
        self.fg: list[tuple[int, int, int, int, int, int]] = []
        self.bg: list[tuple[int, int, int, int, int, int]] = []
        tokens = source.read_text().split()
        i = 0
        channels = 3
        try:
            while i < len(tokens):
                if tokens[i] != "#":
                    raise ValueError(f"expected '#', found {tokens[i]!r}")
                index = int(tokens[i + 1])
                path, channels = tokens[i + 2], int(tokens[i + 3])
                n = int(tokens[i + 6])
                i += 7
                self.images.append(path)
                for _ in range(n):
                    label, overlap = int(tokens[i]), float(tokens[i + 1])
                    box = tuple(int(v) for v in tokens[i + 2 : i + 6])
                    i += 6
                    if overlap >= p.fg_threshold:
                        self.fg.append((index, label, *box))  # type: ignore[arg-type]
                    elif overlap < p.bg_threshold:
                        self.bg.append((index, 0, *box))  # type: ignore[arg-type]
        except (ValueError, IndexError) as exc:
            raise CaffeLayerError(f"{lp.name}: {source} is not a window file ({exc})") from None
        self.base = source.parent
        mean_file = t.mean_file or p.mean_file
        self.mean = cio.read_mean(resolve_source(mean_file, base)) if mean_file else None
        self.shapes = [(self.batch, channels, self.crop, self.crop), (self.batch, 1, 1, 1)]

    def _window(self, w: tuple[int, ...], flip: bool) -> np.ndarray:
        import cv2

        index, _, x1, y1, x2, y2 = w
        path = Path(self.images[index])
        if not path.is_absolute() and not path.exists():
            path = self.base / path
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise CaffeLayerError(f"{self.name}: cannot read {path}")
        size = self.crop
        out = np.zeros((img.shape[2], size, size), np.float32)
        cw = ch = size
        pad_w = pad_h = 0
        if self.context_pad > 0 or self.square:
            context = size / (size - 2 * self.context_pad)
            hh, hw = (y2 - y1 + 1) / 2.0, (x2 - x1 + 1) / 2.0
            cx, cy = x1 + hw, y1 + hh
            if self.square:
                hh = hw = max(hh, hw)
            x1, x2 = round(cx - hw * context), round(cx + hw * context)
            y1, y2 = round(cy - hh * context), round(cy + hh * context)
            uh, uw = y2 - y1 + 1, x2 - x1 + 1
            px1, py1 = max(0, -x1), max(0, -y1)
            px2, py2 = max(0, x2 - img.shape[1] + 1), max(0, y2 - img.shape[0] + 1)
            x1, x2, y1, y2 = x1 + px1, x2 - px2, y1 + py1, y2 - py2
            sx, sy = size / uw, size / uh
            cw, ch = round((x2 - x1 + 1) * sx), round((y2 - y1 + 1) * sy)
            px1, px2, py1 = round(px1 * sx), round(px2 * sx), round(py1 * sy)
            pad_h, pad_w = py1, (px2 if flip else px1)
            ch, cw = min(ch, size - pad_h), min(cw, size - pad_w)
        crop = cv2.resize(img[y1 : y2 + 1, x1 : x2 + 1], (cw, ch), interpolation=cv2.INTER_LINEAR)
        if flip:
            crop = crop[:, ::-1]
        out[:, pad_h : pad_h + ch, pad_w : pad_w + cw] = crop.transpose(2, 0, 1)
        if self.mean is not None:
            off = (self.mean.shape[2] - size) // 2
            m = self.mean[:, off + pad_h : off + pad_h + ch, off + pad_w : off + pad_w + cw]
            out[:, pad_h : pad_h + ch, pad_w : pad_w + cw] -= m
        out[:, pad_h : pad_h + ch, pad_w : pad_w + cw] *= self.scale
        return out

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        num_fg = int(self.batch * self.fg_fraction)
        data, labels = [], []
        for pool, count in ((self.bg, self.batch - num_fg), (self.fg, num_fg)):
            if count and not pool:
                kind = "background" if pool is self.bg else "foreground"
                raise CaffeLayerError(f"{self.name}: the window file has no {kind} windows")
            for _ in range(count):
                w = pool[random.randrange(len(pool))]
                flip = self.mirror and random.random() < 0.5
                data.append(self._window(w, flip))
                labels.append(w[1])
        x = torch.from_numpy(np.stack(data))
        return x, torch.tensor(labels, dtype=torch.float32).view(-1, 1, 1, 1)
