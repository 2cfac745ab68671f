"""Caffe's data path: LMDB of ``Datum`` (convert_imageset) and the ``Data`` layer that reads it.

:func:`write_lmdb` does what ``convert_imageset`` does: each picture (optionally resized, grey
or colour) becomes a ``Datum`` of uint8 CHW bytes in **BGR** order (Caffe read images with
OpenCV) under the key ``%08d_<filename>``, in list order (optionally shuffled). :class:`DataLayer`
reads it like Caffe's: a cursor that wraps to the first key, ``batch_size`` per forward, and the
``transform_param`` rules — (x − mean)·scale, random crop in TRAIN and centred in TEST, random
mirror in *both* phases when ``mirror: true``. LevelDB has no maintained Python package; a
``backend: LEVELDB`` source is refused with that message.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decaf.caffe import io as cio
from decaf.caffe.layers import CaffeLayer, CaffeLayerError
from decaf.caffe.proto import caffe_pb2
from decaf.core.errors import OptionError
from decaf.core.images import load_image

MAP_SIZE = 1 << 40  # LMDB reserves address space, not disk


def write_lmdb(
    samples: list[tuple[Path, int]],
    dest: str | os.PathLike,
    resize: tuple[int, int] | None = None,
    gray: bool = False,
    shuffle: bool = False,
    seed: int = 0,
    progress: Any = None,
) -> int:
    """Write ``(path, label)`` samples as an LMDB of Datum; the folder appears complete or not."""
    import lmdb
    from PIL import Image

    dest = Path(dest)
    if dest.exists():
        raise OptionError(f"{dest}: already exists (convert_imageset refuses too)")
    order = list(samples)
    if shuffle:
        random.Random(seed).shuffle(order)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        env = lmdb.open(str(tmp), map_size=MAP_SIZE, subdir=True)
        with env.begin(write=True) as txn:
            for i, (path, label) in enumerate(order):
                img = load_image(path)
                if resize is not None:
                    img = img.resize((resize[1], resize[0]), Image.Resampling.BILINEAR)
                arr = np.asarray(img.convert("L"))[..., None] if gray else np.asarray(img)
                arr = arr[..., ::-1] if not gray else arr  # RGB → BGR
                chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
                datum = caffe_pb2.Datum(
                    channels=chw.shape[0], height=chw.shape[1], width=chw.shape[2],
                    data=chw.tobytes(), label=int(label),
                )  # fmt: skip
                txn.put(f"{i:08d}_{Path(path).name}".encode(), datum.SerializeToString())
                if progress:
                    progress(i + 1, len(order))
        env.close()
        tmp.rename(dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return len(order)


def datum_to_array(datum: Any) -> np.ndarray:
    """A Datum's pixels as float32 (C, H, W)."""
    if datum.encoded:
        import io

        from PIL import Image

        img = np.asarray(Image.open(io.BytesIO(datum.data)))
        img = img[..., None] if img.ndim == 2 else img[..., ::-1]  # decode → BGR
        return img.transpose(2, 0, 1).astype(np.float32)
    shape = (datum.channels, datum.height, datum.width)
    if datum.data:
        return np.frombuffer(datum.data, np.uint8).reshape(shape).astype(np.float32)
    return np.asarray(datum.float_data, np.float32).reshape(shape)


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


_ENVS: dict[str, Any] = {}


def _open(path: Path) -> Any:
    """One read-only LMDB environment per folder and process (LMDB forbids opening it twice;
    a train and a test net often read the same source)."""
    import lmdb

    key = str(path.resolve())
    if key not in _ENVS:
        try:
            _ENVS[key] = lmdb.open(key, readonly=True, lock=False, subdir=True)
        except lmdb.Error as exc:
            raise CaffeLayerError(f"{path}: not a readable LMDB ({exc})") from None
    return _ENVS[key]


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
        if p.backend != caffe_pb2.DataParameter.LMDB:
            raise CaffeLayerError(
                f"{lp.name}: LevelDB sources cannot be read here (no maintained Python package);"
                " convert it to LMDB (decaf data convert) and set backend: LMDB"
            )
        if p.batch_size < 1:
            raise CaffeLayerError(f"{lp.name}: data_param.batch_size is required")
        self.source = resolve_source(p.source, base)
        self.env = _open(self.source)
        self.batch = p.batch_size
        self.txn = self.env.begin()
        self.cursor = self.txn.cursor()
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
