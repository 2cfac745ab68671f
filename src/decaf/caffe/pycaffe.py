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
from pathlib import Path
from typing import Any

import numpy as np
import torch

from decaf.caffe import io as cio
from decaf.caffe.net import TEST, TRAIN, CaffeNet
from decaf.caffe.python_layer import BlobShape
from decaf.core.errors import OptionError


class Blob(BlobShape):
    """A named array with ``data`` and ``diff`` views, like ``caffe._caffe.Blob``."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self._tensor = tensor

    @property
    def data(self) -> np.ndarray:
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


class Net:
    """``caffe.Net(prototxt, [weights], phase)`` (or with ``weights=``/``phase=`` keywords)."""

    def __init__(self, prototxt: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
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
        self.module = CaffeNet(cio.read_net(prototxt), phase=phase, **kwargs)
        self.module.train(phase == TRAIN)
        if weights is not None:
            self.copy_from(weights)
        self._inputs = {
            name: torch.zeros(self.module.blob_shapes[name]) for name in self.module.inputs
        }
        self._values: dict[str, torch.Tensor] = dict(self._inputs)

    @property
    def inputs(self) -> list[str]:
        return list(self.module.inputs)

    @property
    def outputs(self) -> list[str]:
        return list(self.module.outputs)

    @property
    def blobs(self) -> OrderedDict[str, Blob]:
        out: OrderedDict[str, Blob] = OrderedDict()
        for name in self._inputs:
            out[name] = Blob(self._inputs[name])
        for name, value in self._values.items():
            if name not in out:
                out[name] = Blob(value)
        return out

    @property
    def params(self) -> OrderedDict[str, list[Blob]]:
        out: OrderedDict[str, list[Blob]] = OrderedDict()
        for key, lp in self.module.order:
            layer = self.module.layers[key]
            if len(layer.blobs):
                out[lp.name] = [Blob(b) for b in layer.blobs]
        return out

    @property
    def layers(self) -> list[Any]:
        return [self.module.layers[k] for k, _ in self.module.order]

    @property
    def layer_dict(self) -> OrderedDict[str, Any]:
        return OrderedDict((lp.name, self.module.layers[k]) for k, lp in self.module.order)

    def copy_from(self, weights: str | os.PathLike) -> None:
        self.module.copy_from(weights)

    def forward(
        self,
        blobs: list[str] | None = None,
        start: str | None = None,
        end: str | None = None,
        **kwargs: Any,
    ) -> dict[str, np.ndarray]:
        """Run the net (from layer ``start`` to ``end`` when given); keyword arrays replace the
        input blobs. Returns the output blobs (``end``'s tops for a partial run) and ``blobs``."""
        for name, value in kwargs.items():
            if name not in self._inputs:
                raise OptionError(f"{name!r} is not an input of this net ({self.inputs})")
            arr = np.asarray(value, np.float32)
            if arr.shape != tuple(self._inputs[name].shape):
                self._inputs[name] = torch.from_numpy(arr.copy())
            else:
                self._inputs[name].numpy()[...] = arr
        # gradients flow in TRAIN nets and in nets that ask for them (force_backward: true, as
        # the deep-dream and saliency examples do)
        grad = self.module.phase == TRAIN or self.module.proto.force_backward
        feed = dict(self._inputs)
        if grad:
            for x in self._inputs.values():
                x.requires_grad_(True)
                x.grad = None  # blob diffs are rewritten by each backward, as in Caffe
        if start is not None:  # a partial run reads the blobs as they stand, edits included
            feed = {**self._values, **feed}
        with torch.set_grad_enabled(grad):
            outs = self.module.run(feed, start, end)
        self._values = {**self._inputs, **self.module.blob_values}
        if grad:
            for v in self._values.values():
                if v.requires_grad and v.grad_fn is not None:
                    v.retain_grad()  # so every blob's .diff is filled by backward()
        names = list(outs) + [b for b in (blobs or []) if b not in outs]
        return {n: self._values[n].detach().numpy() for n in names}

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

    def backward(self, **diffs: np.ndarray) -> None:
        """Back-propagate into every blob's and param's ``diff``.

        A net with loss layers back-propagates its loss. Otherwise the gradient starts from the
        output blobs' diffs — given as keywords or written into ``net.blobs[out].diff`` first
        (pycaffe's deep-dream idiom); the net needs ``force_backward: true`` in TEST phase.
        """
        if self.module.losses:
            self.module.loss().backward()
            return
        outs, grads = [], []
        for name in self.outputs:
            value = self._values[name]
            if not value.requires_grad:
                raise OptionError(
                    "nothing to back-propagate: this TEST net has no loss; set force_backward: "
                    "true in the prototxt and write the output diffs first"
                )
            given = diffs.get(name)
            if given is None:
                given = value.grad.clone() if value.grad is not None else torch.zeros_like(value)
            else:
                given = torch.as_tensor(np.asarray(given, np.float32)).reshape(value.shape)
            value.grad = None
            outs.append(value)
            grads.append(given)
        torch.autograd.backward(outs, grads)

    def save(self, path: str | os.PathLike) -> Path:
        return self.module.save(path)


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
        from skimage.transform import resize

        name = self.inputs[0]
        h, w = self.image_dims
        ch, cw = self.crop_dims
        resized = [resize(np.asarray(im, np.float32), (h, w), order=1, preserve_range=True)
                   for im in inputs]  # fmt: skip
        crops = []
        for im in resized:
            if oversample:
                tops = [0, 0, h - ch, h - ch, (h - ch) // 2]
                lefts = [0, w - cw, 0, w - cw, (w - cw) // 2]
                views = [
                    im[t : t + ch, left : left + cw] for t, left in zip(tops, lefts, strict=True)
                ]
                views += [v[:, ::-1] for v in views]
            else:
                t, left = (h - ch) // 2, (w - cw) // 2
                views = [im[t : t + ch, left : left + cw]]
            crops.extend(views)
        batch = np.stack([self.transformer.preprocess(name, c) for c in crops])
        self.module.blob_shapes[name] = batch.shape
        out = self.forward(**{name: batch})[self.outputs[0]]
        per = 10 if oversample else 1
        return out.reshape(len(inputs), per, -1).mean(1)
