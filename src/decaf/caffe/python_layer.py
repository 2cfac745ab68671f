"""Caffe ``Python`` layers, through a ``caffe.Layer``-compatible shim (research §1.6).

A Python layer names a module and a class (``python_param { module layer param_str }``); its
code runs inside the net, so building one is refused unless the caller opts in
(``allow_python=True``, CLI ``--allow-python-layers``). The shim gives the layer what pycaffe
and the Fast R-CNN fork give it:

- ``self.param_str`` and ``self.param_str_`` (the fork's name), ``self.phase`` that compares
  equal to 0/1 and prints as ``TRAIN``/``TEST`` (``cfg[str(self.phase)]`` works);
- ``setup(bottom, top)`` once, ``reshape`` before every forward, ``forward(bottom, top)``,
  ``backward(top, propagate_down, bottom)``; blobs with writable ``data``/``diff`` numpy arrays
  and ``reshape(*dims)``;
- ``import caffe`` inside the module resolves to ``decaf.caffe``.

Gradients flow through a ``torch.autograd.Function`` that calls the layer's ``backward``.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decaf.caffe.layers import CaffeLayer, CaffeLayerError


class Phase(int):
    """0/1 like Caffe's enum, printed as TRAIN/TEST like the Boost enum the fork exposes."""

    def __str__(self) -> str:
        return "TRAIN" if self == 0 else "TEST"

    __repr__ = __str__


class BlobShape:
    """Caffe's Blob shape accessors, from ``shape`` (shared by pycaffe's Blob and this one)."""

    shape: tuple[int, ...]

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def num(self) -> int:
        return self.shape[0]

    @property
    def channels(self) -> int:
        return self.shape[1]

    @property
    def height(self) -> int:
        return self.shape[2]

    @property
    def width(self) -> int:
        return self.shape[3]


class NumpyBlob(BlobShape):
    """The Blob a Python layer sees: ``data``, ``diff``, ``reshape``, ``shape``, ``count``."""

    def __init__(self, data: np.ndarray | None = None) -> None:
        self.data = np.zeros((0,), np.float32) if data is None else data
        self.diff = np.zeros_like(self.data)

    def reshape(self, *dims: int) -> None:
        if tuple(self.data.shape) != tuple(dims):
            self.data = np.zeros(dims, np.float32)
            self.diff = np.zeros(dims, np.float32)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)


class Layer:
    """Base class for user layers (``caffe.Layer``)."""

    def setup(self, bottom: list[NumpyBlob], top: list[NumpyBlob]) -> None:  # pragma: no cover
        pass

    def reshape(self, bottom: list[NumpyBlob], top: list[NumpyBlob]) -> None:  # pragma: no cover
        pass

    def forward(self, bottom: list[NumpyBlob], top: list[NumpyBlob]) -> None:  # pragma: no cover
        raise NotImplementedError

    def backward(
        self, top: list[NumpyBlob], propagate_down: list[bool], bottom: list[NumpyBlob]
    ) -> None:  # pragma: no cover
        pass


class _Bridge(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, wrapper: PythonLayer, *inputs: torch.Tensor) -> Any:
        ctx.wrapper = wrapper
        bottom = [NumpyBlob(x.detach().cpu().numpy().astype(np.float32)) for x in inputs]
        top = wrapper.tops
        wrapper.impl.reshape(bottom, top)
        wrapper.impl.forward(bottom, top)
        ctx.bottom = bottom
        return tuple(torch.from_numpy(np.array(t.data, np.float32)) for t in top)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        wrapper = ctx.wrapper
        top = wrapper.tops
        for t, g in zip(top, grads, strict=False):
            t.diff = np.zeros_like(t.data) if g is None else g.detach().numpy().astype(np.float32)
        bottom = ctx.bottom
        for b in bottom:
            b.diff = np.zeros_like(b.data)
        wrapper.impl.backward(top, [True] * len(bottom), bottom)
        return (None, *[torch.from_numpy(np.array(b.diff, np.float32)) for b in bottom])


_IMPORT_LOCK = threading.Lock()  # sys.path is the process's: one layer import at a time


def _import_layer(lp: Any, folders: list[Path]) -> type:
    """The layer class, imported with ``folders`` (the prototxt's, then ``--python-path``)
    put first on ``sys.path`` for that import only."""
    p = lp.python_param
    added = [str(f) for f in folders if str(f) not in sys.path]
    with _IMPORT_LOCK:
        sys.path[:0] = added
        try:
            module = importlib.import_module(p.module)
        except ImportError as exc:
            where = ", ".join(str(f) for f in folders) or "nowhere"
            raise CaffeLayerError(
                f"{lp.name}: cannot import Python layer module {p.module!r} ({exc}); looked in "
                f"{where} and sys.path. Make it importable: --python-path DIR (from Python: "
                "python_path=[DIR]), where DIR holds the module's top package, as "
                "py-faster-rcnn's lib/ does"
            ) from None
        finally:
            for path in added:
                sys.path.remove(path)
    cls = getattr(module, p.layer, None)
    if cls is None:
        raise CaffeLayerError(f"{lp.name}: module {p.module!r} has no class {p.layer!r}")
    return cls


class PythonLayer(CaffeLayer):
    def __init__(self, lp: Any, bottoms: list[tuple[int, ...]], phase: int,
                 base: Path | None = None, python_path: Sequence[Path] = ()) -> None:  # fmt: skip
        super().__init__(lp, bottoms, phase)
        p = lp.python_param
        import decaf.caffe as shim

        sys.modules.setdefault("caffe", shim)  # user modules do `import caffe`
        folders = ([base] if base is not None else []) + [Path(f) for f in python_path]
        cls = _import_layer(lp, folders)
        self.impl = cls()
        self.impl.param_str = p.param_str
        self.impl.param_str_ = p.param_str
        self.impl.phase = Phase(phase)
        self.impl.blobs = []
        self.tops = [NumpyBlob() for _ in lp.top]
        bottom = [NumpyBlob(np.zeros(s, np.float32)) for s in bottoms]
        self.impl.setup(bottom, self.tops)
        self.impl.reshape(bottom, self.tops)

    def forward(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return _Bridge.apply(self, *bottoms)
