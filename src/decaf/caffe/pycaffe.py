"""The pycaffe API on decaf's CaffeNet: ``Net`` with ``blobs``/``params`` as numpy arrays.

Code written for pycaffe runs with one changed import (``from decaf import caffe``)::

    net = caffe.Net("deploy.prototxt", "weights.caffemodel", caffe.TEST)
    net.blobs["data"].data[...] = batch
    out = net.forward()
    fc = net.params["fc8"][0].data      # writable; writes change the model
    net.save("fine.caffemodel")

``Blob.data`` and ``Blob.diff`` are numpy arrays sharing memory with the torch tensors, so
in-place edits go straight into the network, as in pycaffe.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decaf.caffe import io as cio
from decaf.caffe.layers import CaffeLayerError
from decaf.caffe.net import TEST, TRAIN, CaffeNet, loss_weight, naming
from decaf.caffe.python_layer import BlobShape, Phase
from decaf.core.errors import OptionError


class Blob(BlobShape):
    """A named array with ``data`` and ``diff`` views, like ``caffe._caffe.Blob``."""

    def __init__(self, tensor: torch.Tensor, on_view: Callable[[], None] | None = None) -> None:
        self._tensor = tensor
        self._on_view = on_view

    @property
    def data(self) -> np.ndarray:
        if self._on_view is not None:  # a writable view of a weight leaves the net's hands
            self._on_view()
        return self._tensor.detach().numpy()

    @property
    def diff(self) -> np.ndarray:
        grad = self._tensor.grad
        if grad is None:
            grad = torch.zeros_like(self._tensor)
            if self._tensor.requires_grad:
                self._tensor.grad = grad
        return grad.numpy()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._tensor.shape)

    def reshape(self, *dims: int) -> None:
        with torch.no_grad():
            self._tensor.data = torch.zeros(dims, dtype=self._tensor.dtype)


class LayerView:
    """``net.layers[i]``: ``type``, ``blobs`` (as :class:`Blob` s), ``phase``; anything else
    comes from the torch module underneath (``.run`` of the recurrent layers, say)."""

    def __init__(self, lp: Any, module: Any | None, phase: int,
                 on_view: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.name, self.type, self._module = lp.name, lp.type, module
        self.phase = Phase(phase)
        self._on_view = on_view

    @property
    def blobs(self) -> list[Blob]:
        if self._module is None:
            return []
        return [Blob(b, self._on_view) for b in self._module.blobs]

    def __getattr__(self, name: str) -> Any:
        module = self.__dict__.get("_module")
        if module is None:
            raise AttributeError(name)
        return getattr(module, name)

    def __repr__(self) -> str:
        return f"<caffe layer {self.name!r} ({self.type})>"


def _parse_net_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    """pycaffe's two signatures: ``Net(file, phase, weights=…)`` and ``Net(file, weights,
    phase)``."""
    weights = kwargs.pop("weights", None)
    phase = kwargs.pop("phase", None)
    for a in args:
        if isinstance(a, int) and phase is None:
            phase = a
        elif weights is None:
            weights = a
    phase = TEST if phase is None else phase
    if phase not in (TRAIN, TEST):
        raise OptionError(f"phase must be caffe.TRAIN or caffe.TEST, got {phase!r}")
    return weights, phase


class Net:
    """``caffe.Net(prototxt, [weights], phase, level=0, stages=[])``, pycaffe's surface.

    Every blob exists from construction, at the shapes the prototxt declares; reshaping an
    input blob (``net.blobs['data'].reshape(1, 3, H, W)``) and running ``forward`` reshapes the
    whole net, as in Caffe. ``net.reshape()`` does it without a forward.
    """

    def __init__(self, prototxt: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
        weights, phase = _parse_net_args(args, kwargs)
        h5 = weights is not None and str(weights).endswith((".h5", ".hdf5"))
        with naming(prototxt):
            self.module = CaffeNet(cio.read_net(prototxt), phase=phase,
                                   weights=None if h5 else weights, **kwargs)  # fmt: skip
        self.module.train(phase == TRAIN)
        self._inputs = {
            name: torch.zeros(self.module.blob_shapes[name]) for name in self.module.inputs
        }
        self._shapes = dict(self.module.blob_shapes)
        self._values: dict[str, torch.Tensor] = dict(self._inputs)
        keys = {id(lp): key for key, lp in self.module.order}
        self._layers = [LayerView(lp, self.module.layers[keys[id(lp)]] if id(lp) in keys
                                  else None, phase, self._weights_seen)
                        for lp in self.module.layer_params]  # fmt: skip
        self.module.auto_fuse = True
        if h5:
            self.load_hdf5(weights)

    def _weights_seen(self) -> None:
        """Writes through numpy views of the weights cannot be seen: once one is handed out,
        this net runs unfolded (always right; ``net.module.fuse()`` folds what stands then)."""
        self.module.auto_fuse = False

    # -- names and indices ------------------------------------------------------------------
    @property
    def inputs(self) -> list[str]:
        return list(self.module.inputs)

    @property
    def outputs(self) -> list[str]:
        return list(self.module.outputs)

    @property
    def _layer_names(self) -> list[str]:
        return [lp.name for lp in self.module.layer_params]

    @property
    def _blob_names(self) -> list[str]:
        return list(self.module.blob_names)

    @property
    def _inputs_indices(self) -> list[int]:
        return [self._blob_names.index(n) for n in self.inputs]

    @property
    def _outputs_indices(self) -> list[int]:
        return [self._blob_names.index(n) for n in self.outputs]

    def _top_ids(self, i: int) -> list[int]:
        return [self._blob_names.index(t) for t in self.module.layer_params[i].top]

    def _bottom_ids(self, i: int) -> list[int]:
        return [self._blob_names.index(b) for b in self.module.layer_params[i].bottom]

    @property
    def top_names(self) -> OrderedDict[str, list[str]]:
        return OrderedDict((lp.name, list(lp.top)) for lp in self.module.layer_params)

    @property
    def bottom_names(self) -> OrderedDict[str, list[str]]:
        return OrderedDict((lp.name, list(lp.bottom)) for lp in self.module.layer_params)

    @property
    def blob_loss_weights(self) -> OrderedDict[str, float]:
        weights = dict.fromkeys(self._blob_names, 0.0)
        for lp in self.module.layer_params:
            for i, top in enumerate(lp.top):
                weights[top] = loss_weight(lp, i) or weights[top]
        return OrderedDict(weights)

    # -- blobs, params, layers ----------------------------------------------------------------
    def _value(self, name: str) -> torch.Tensor:
        value = self._values.get(name)
        if value is None:  # allocated on first look, at the shape the last reshape gave
            value = self._values[name] = torch.zeros(self._shapes[name])
        return value

    @property
    def blobs(self) -> OrderedDict[str, Blob]:
        return OrderedDict((n, Blob(self._value(n))) for n in self._blob_names)

    @property
    def _blobs(self) -> list[Blob]:
        return list(self.blobs.values())

    @property
    def params(self) -> OrderedDict[str, list[Blob]]:
        return OrderedDict((view.name, view.blobs) for view in self._layers if view.blobs)

    @property
    def layers(self) -> list[LayerView]:
        return list(self._layers)

    @property
    def layer_dict(self) -> OrderedDict[str, LayerView]:
        return OrderedDict((view.name, view) for view in self._layers)

    def reshape(self) -> None:
        """Every blob takes the shape that the input blobs' current shapes give."""
        given = {n: tuple(t.shape) for n, t in self._inputs.items()}
        self._shapes = self.module.reshape(given)
        self._values = dict(self._inputs)

    # -- weights ----------------------------------------------------------------------------
    def copy_from(self, weights: str | os.PathLike) -> None:
        """Blobs by layer name from a caffemodel, or from an HDF5 file (``.h5``) as Caffe."""
        if str(weights).endswith((".h5", ".hdf5")):
            self.load_hdf5(weights)
        else:
            self.module.copy_from(weights)

    def share_with(self, other: Net) -> None:
        self.module.share_with(other.module)

    def clear_param_diffs(self) -> None:
        for param in self.module.parameters():
            param.grad = None

    def save(self, path: str | os.PathLike) -> Path:
        return self.module.save(path)

    def _weights(self) -> dict[str, list[torch.Tensor]]:
        """Each layer's blobs as tensors (not numpy views: they leave the folded plan on)."""
        return {view.name: list(view._module.blobs) for view in self._layers
                if view._module is not None and len(view._module.blobs)}  # fmt: skip

    def save_hdf5(self, path: str | os.PathLike) -> Path:
        """Caffe's HDF5 weights: ``data/<layer>/<i>`` and ``diff/<layer>/<i>``, written
        atomically."""
        import h5py

        from decaf.core.images import atomic_write, writable_file

        def write(tmp: Path) -> None:
            with h5py.File(tmp, "w") as f:
                for name, blobs in self._weights().items():
                    for i, t in enumerate(blobs):
                        grad = t.grad if t.grad is not None else torch.zeros_like(t)
                        f.create_dataset(f"data/{name}/{i}", data=t.detach().numpy())
                        f.create_dataset(f"diff/{name}/{i}", data=grad.numpy())

        return atomic_write(writable_file(path), write)

    def load_hdf5(self, path: str | os.PathLike) -> None:
        import h5py

        params = self._weights()
        with h5py.File(path, "r") as f, torch.no_grad():
            for name in f.get("data", {}):
                for i, blob in enumerate(params.get(name, [])):
                    arr = f[f"data/{name}/{i}"][()]
                    if arr.size != blob.numel():
                        raise OptionError(f"{path}: {name} blob {i} has shape {arr.shape}, "
                                          f"the net wants {tuple(blob.shape)}")  # fmt: skip
                    blob.copy_(torch.from_numpy(arr.astype(np.float32)).reshape(blob.shape))

    # -- running ----------------------------------------------------------------------------
    def _feed(self, kwargs: dict[str, Any]) -> None:
        for name, value in kwargs.items():
            if name not in self._inputs:
                raise OptionError(f"{name!r} is not an input of this net ({self.inputs})")
            arr = np.asarray(value, np.float32)
            if arr.shape != tuple(self._inputs[name].shape):
                self._inputs[name] = torch.from_numpy(arr.copy())
            else:
                self._inputs[name].detach().numpy()[...] = arr

    def forward(
        self,
        blobs: list[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        **kwargs: Any,
    ) -> dict[str, np.ndarray]:
        """Run the net (from layer ``start`` to ``end`` when given); keyword arrays replace the
        input blobs. Returns the output blobs (``end``'s tops for a partial run) and ``blobs``."""
        self._feed(kwargs)
        # gradients flow in TRAIN nets and in nets that ask for them (force_backward: true, as
        # the deep-dream and saliency examples do)
        grad = self.module.phase == TRAIN or self.module.proto.force_backward
        feed = dict(self._inputs)
        for x in self._inputs.values():
            x.requires_grad_(bool(self.module.proto.force_backward))
            x.grad = None  # blob diffs are rewritten by each backward, as in Caffe
        if start is not None:  # a partial run reads the blobs as they stand, edits included
            feed = {**self._values, **feed}
        with torch.set_grad_enabled(grad):
            outs = self.module.run(feed, _layer_name(self, start), _layer_name(self, end))
        self._values = {**self._inputs, **self.module.blob_values}
        self._shapes.update((n, tuple(v.shape)) for n, v in self._values.items())
        if grad:
            for v in self._values.values():
                if v.requires_grad and v.grad_fn is not None:
                    v.retain_grad()  # so every blob's .diff is filled by backward()
        names = list(outs) + [b for b in (blobs or []) if b not in outs]
        return {n: self._values[n].detach().numpy() for n in names}

    def _forward(self, start: int, end: int) -> float:
        """The C++ entry point: layers ``start``..``end`` by index; returns the loss."""
        self.forward(start=self._layer_names[start], end=self._layer_names[end])
        return float(self.module.loss()) if self.module.losses else 0.0

    def set_input_arrays(self, data: np.ndarray, labels: np.ndarray) -> None:
        """Feed a ``MemoryData`` layer: (N, C, H, W) data and N labels for the next forward."""
        memory = [lp for lp in self.module.layer_params if lp.type == "MemoryData"]
        if not memory:
            raise OptionError("this net has no MemoryData layer")
        tops = list(memory[0].top)
        data = np.asarray(data, np.float32)
        labels = np.asarray(labels, np.float32).reshape(-1)
        if data.ndim != 4 or len(labels) != data.shape[0]:
            raise OptionError(
                f"need (N, C, H, W) data and N labels, got {data.shape}, {labels.shape}"
            )
        self._inputs[tops[0]] = torch.from_numpy(data.copy())
        if len(tops) > 1:
            self._inputs[tops[1]] = torch.from_numpy(labels.copy())

    def backward(
        self,
        diffs: list[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        **kwargs: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Back-propagate into every blob's and param's ``diff``; returns the input blobs'
        diffs (and those of ``diffs``).

        A net with loss layers back-propagates its loss. Otherwise the gradient starts from the
        output blobs' diffs — given as keywords or written into ``net.blobs[out].diff`` first
        (pycaffe's deep-dream idiom); the net needs ``force_backward: true`` in TEST phase.
        ``start`` begins at that layer's tops instead. Autograd then goes all the way down:
        ``end`` is accepted but does not stop it (the diffs below are filled too).
        """
        del end
        if kwargs and set(kwargs) != set(self.outputs):
            raise OptionError(f"top diff arguments {sorted(kwargs)} do not match the net's "
                              f"outputs {self.outputs}")  # fmt: skip
        if self.module.losses and not kwargs and start is None:
            self.module.loss().backward()
        else:
            tops = self.top_names[start] if start is not None else self.outputs
            self._backward_from(tops, kwargs)
        names = list(dict.fromkeys([*self.inputs, *(diffs or [])]))
        return {n: self.blobs[n].diff for n in names}

    def _backward_from(self, tops: list[str], given: dict[str, np.ndarray]) -> None:
        outs, grads = [], []
        for name in tops:
            value = self._values[name]
            if not value.requires_grad:
                raise OptionError(
                    "nothing to back-propagate: this TEST net has no loss; set force_backward: "
                    "true in the prototxt and write the output diffs first"
                )
            diff = given.get(name)
            if diff is None:
                grad = value.grad.clone() if value.grad is not None else torch.zeros_like(value)
            else:
                grad = torch.as_tensor(np.asarray(diff, np.float32)).reshape(value.shape)
            value.grad = None
            outs.append(value)
            grads.append(grad)
        torch.autograd.backward(outs, grads)

    def _backward(self, start: int, end: int) -> None:
        self.backward(start=self._layer_names[start], end=self._layer_names[end])

    # -- whole data sets, in batches ----------------------------------------------------------
    def _batches(self, arrays: dict[str, Any]) -> list[dict[str, np.ndarray]]:
        """Cut arrays into the net's batch size (the first input blob's num), the last batch
        padded with zeros, as pycaffe's ``_batch`` does."""
        if not arrays:
            return [{}]
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) != 1:
            raise OptionError(f"the arrays have different lengths {sorted(lengths)}")
        total = lengths.pop()
        size = next(iter(self._inputs.values())).shape[0] if self._inputs else total
        out = []
        for lo in range(0, total, size):
            batch = {}
            for name, arr in arrays.items():
                part = np.asarray(arr[lo : lo + size], np.float32)
                if len(part) < size:
                    pad = np.zeros((size - len(part), *part.shape[1:]), np.float32)
                    part = np.concatenate([part, pad])
                batch[name] = part
            out.append(batch)
        return out

    def forward_all(self, blobs: list[str] | None = None, **kwargs: Any) -> dict[str, np.ndarray]:
        """``forward`` over arrays of any length, batch by batch; outputs concatenated."""
        total = len(next(iter(kwargs.values()))) if kwargs else None
        parts: dict[str, list[np.ndarray]] = {}
        for batch in self._batches(kwargs):
            for name, value in self.forward(blobs=blobs, **batch).items():
                parts.setdefault(name, []).append(value.copy())
        return {n: np.concatenate(v)[:total] for n, v in parts.items()}

    def forward_backward_all(
        self, blobs: list[str] | None = None, diffs: list[str] | None = None, **kwargs: Any
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``forward`` then ``backward`` over arrays of any length: keywords naming inputs are
        fed forward, keywords naming outputs are their diffs."""
        total = len(next(iter(kwargs.values()))) if kwargs else None
        fwd_parts: dict[str, list[np.ndarray]] = {}
        bwd_parts: dict[str, list[np.ndarray]] = {}
        for batch in self._batches(kwargs):
            ins = {k: v for k, v in batch.items() if k in self._inputs}
            tops = {k: v for k, v in batch.items() if k not in self._inputs}
            for name, value in self.forward(blobs=blobs, **ins).items():
                fwd_parts.setdefault(name, []).append(value.copy())
            for name, value in self.backward(diffs=diffs, **tops).items():
                bwd_parts.setdefault(name, []).append(value.copy())
        return ({n: np.concatenate(v)[:total] for n, v in fwd_parts.items()},
                {n: np.concatenate(v)[:total] for n, v in bwd_parts.items()})  # fmt: skip

    # -- callbacks ----------------------------------------------------------------------------
    def before_forward(self, callback: Callable[[int], None]) -> None:
        """``callback(layer index)`` before each layer's forward."""
        index = {n: i for i, n in enumerate(self._layer_names)}
        self.module.before_layer.append(lambda name: callback(index[name]))

    def after_forward(self, callback: Callable[[int], None]) -> None:
        index = {n: i for i, n in enumerate(self._layer_names)}
        self.module.after_layer.append(lambda name: callback(index[name]))


def _layer_name(net: Net, name: str | None) -> str | None:
    """pycaffe names Input layers as start/end points too; decaf's graph starts after them."""
    if name is None:
        return None
    computing = {lp.name for _, lp in net.module.order}
    if name in computing:
        return name
    if name not in net._layer_names:
        raise CaffeLayerError(f"no layer named {name!r}")
    later = net._layer_names[net._layer_names.index(name) :]
    return next((n for n in later if n in computing), None)


class Classifier(Net):
    """pycaffe's ``caffe.Classifier``: resize, (over)sample 10 crops, average the predictions.

    ``predict(images, oversample=True)`` takes HWC float images in [0, 1] (``caffe.io.
    load_image``) and returns (N, classes) probabilities from the net's first output.
    """

    def __init__(
        self,
        model_file: str | os.PathLike,
        pretrained_file: str | os.PathLike,
        image_dims: tuple[int, int] | None = None,
        mean: np.ndarray | None = None,
        input_scale: float | None = None,
        raw_scale: float | None = None,
        channel_swap: tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model_file, pretrained_file, TEST, **kwargs)
        name = self.inputs[0]
        shape = tuple(self.module.blob_shapes[name])
        self.transformer = cio.Transformer({name: shape})
        self.transformer.set_transpose(name, (2, 0, 1))
        if mean is not None:
            self.transformer.set_mean(name, mean)
        if input_scale is not None:
            self.transformer.set_input_scale(name, input_scale)
        if raw_scale is not None:
            self.transformer.set_raw_scale(name, raw_scale)
        if channel_swap is not None:
            self.transformer.set_channel_swap(name, channel_swap)
        self.crop_dims = shape[2:]
        self.image_dims = tuple(image_dims) if image_dims is not None else self.crop_dims

    def predict(self, inputs: list[np.ndarray], oversample: bool = True) -> np.ndarray:
        name = self.inputs[0]
        resized = [cio.resize_image(im, self.image_dims) for im in inputs]
        if oversample:
            crops = cio.oversample(resized, self.crop_dims)
        else:
            (h, w), (ch, cw) = self.image_dims, self.crop_dims
            t, left = (h - ch) // 2, (w - cw) // 2
            crops = np.stack([im[t : t + ch, left : left + cw] for im in resized])
        batch = np.stack([self.transformer.preprocess(name, c) for c in crops])
        out = self.forward(**{name: batch})[self.outputs[0]]
        per = 10 if oversample else 1
        return out.reshape(len(inputs), per, -1).mean(1)


# -- pycaffe's module-level calls -----------------------------------------------------------------


def set_mode_cpu() -> None:
    """decaf runs Caffe nets on the CPU: nothing to switch."""


def set_mode_gpu() -> None:
    """Scripts call this unconditionally; decaf says once that it stays on the CPU."""
    import warnings

    warnings.warn("decaf.caffe runs on the CPU; set_mode_gpu() changes nothing", stacklevel=2)


def set_device(device: int) -> None:
    """Kept for scripts that choose a GPU; decaf runs on the CPU."""
    del device


def set_random_seed(seed: int) -> None:
    """Caffe's RNG seed: the fillers, dropout and random crops/mirrors that follow."""
    import random

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def layer_type_list() -> list[str]:
    """The layer types decaf builds (``caffe.layer_type_list()``)."""
    from decaf.caffe.layers import LAYERS
    from decaf.caffe.net import DATA_TYPES

    return sorted({*LAYERS, *DATA_TYPES, "Input", "Python", "HDF5Output"})


def _typed_solver(kind: str) -> Callable[..., Any]:
    def make(path: str | os.PathLike, **kwargs: Any) -> Any:
        from decaf.caffe.solver import Solver

        return Solver(path, solver_type=kind, **kwargs)

    make.__name__ = f"{kind}Solver"
    make.__doc__ = f"pycaffe's ``caffe.{kind}Solver(path)``: {kind}, whatever the file says."
    return make


SGDSolver = _typed_solver("SGD")
NesterovSolver = _typed_solver("Nesterov")
AdaGradSolver = _typed_solver("AdaGrad")
RMSPropSolver = _typed_solver("RMSProp")
AdaDeltaSolver = _typed_solver("AdaDelta")
AdamSolver = _typed_solver("Adam")
