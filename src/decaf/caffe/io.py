"""Read and write Caffe's files: prototxt, caffemodel, binaryproto, solver.

Text files parse with protobuf's ``text_format``; a syntax error becomes a :class:`CaffeFormatError`
naming ``file:line:column``. Binary files parse with the upb backend, which has no 64 MB message
limit (Caffe raised its own limit for VGG16's 528 MB weights). Legacy V1 nets (``layers { type:
CONVOLUTION }``) and ``input``/``input_dim`` declarations are upgraded on read, as Caffe's
``UpgradeNetAsNeeded`` does. A user's own ``caffe.proto`` dialect can be compiled at run time with
:func:`load_dialect`.
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message

from decaf.caffe.proto import caffe_pb2
from decaf.core.errors import DecafError, OptionError
from decaf.core.images import atomic_write

PROTO = caffe_pb2


class CaffeFormatError(DecafError):
    """A Caffe file that cannot be read as what it claims to be."""


def _read_text(src: str | os.PathLike) -> tuple[str, str]:
    """(text, label) for a path, or for prototxt text itself (it always has ':' or '{')."""
    is_text = isinstance(src, str) and not os.path.isfile(src) and any(c in src for c in ":{\n")
    if is_text:
        return str(src), "<prototxt>"
    path = Path(src)
    if not path.is_file():
        raise CaffeFormatError(f"{path}: no such file")
    if path.stat().st_size > MAX_MESSAGE_BYTES:
        raise CaffeFormatError(f"{path}: over 2 GiB, too big for a prototxt")
    try:
        return path.read_text(), str(path)
    except UnicodeDecodeError:
        raise CaffeFormatError(f"{path}: not a text prototxt (binary file?)") from None


def parse_text(src: str | os.PathLike, message: Message) -> Message:
    """Parse prototxt ``src`` (path or text) into ``message``; errors name file:line:column."""
    text, label = _read_text(src)
    try:
        text_format.Merge(text, message)
    except text_format.ParseError as exc:
        raise CaffeFormatError(f"{label}:{exc}") from None
    return message


def _decode_strings(message: Message) -> None:
    """Read every string field once: protobuf decodes UTF-8 only when a field is read, so a
    corrupt name would otherwise fail later, far from the file. Blobs hold no strings."""
    for field, value in message.ListFields():
        if field.type == field.TYPE_STRING and field.is_repeated:
            list(value)  # repeated strings decode one by one, when read
        if field.message_type is None or field.message_type.name == "BlobProto":
            continue
        items = value if field.is_repeated else [value]
        for item in items:
            _decode_strings(item)


#: protobuf's own limit for one message: a caffemodel or binaryproto past it is not one
MAX_MESSAGE_BYTES = 2**31 - 1


def parse_binary(src: str | os.PathLike, message: Message) -> Message:
    path = Path(src)
    if not path.is_file():
        raise CaffeFormatError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_MESSAGE_BYTES:
        raise CaffeFormatError(f"{path}: {size:,} bytes; protobuf messages end at "
                               f"{MAX_MESSAGE_BYTES:,} (2 GiB)")  # fmt: skip
    data = path.read_bytes()
    if not data:
        raise CaffeFormatError(f"{path}: empty file")
    try:
        message.ParseFromString(data)
        _decode_strings(message)
    except (DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise CaffeFormatError(
            f"{path}: not a valid {type(message).__name__} (truncated or not a Caffe file: "
            f"{str(exc)[:200]})"
        ) from None
    return message


# -- nets ---------------------------------------------------------------------------------------

_V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DATA": "Data", "DECONVOLUTION": "Deconvolution", "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise",
    "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}  # fmt: skip
_V1_SHARED_FIELDS = [
    "accuracy_param",
    "argmax_param",
    "concat_param",
    "contrastive_loss_param",
    "convolution_param",
    "data_param",
    "dropout_param",
    "dummy_data_param",
    "eltwise_param",
    "exp_param",
    "hdf5_data_param",
    "hdf5_output_param",
    "hinge_loss_param",
    "image_data_param",
    "infogain_loss_param",
    "inner_product_param",
    "lrn_param",
    "memory_data_param",
    "mvn_param",
    "pooling_param",
    "power_param",
    "relu_param",
    "sigmoid_param",
    "softmax_param",
    "slice_param",
    "tanh_param",
    "threshold_param",
    "window_data_param",
    "transform_param",
    "loss_param",
]


_V0_TYPES = {
    "accuracy": "ACCURACY", "bnll": "BNLL", "concat": "CONCAT", "conv": "CONVOLUTION",
    "data": "DATA", "dropout": "DROPOUT", "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN", "hdf5_data": "HDF5_DATA", "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL", "images": "IMAGE_DATA", "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT", "lrn": "LRN",
    "multinomial_logistic_loss": "MULTINOMIAL_LOGISTIC_LOSS", "pool": "POOLING",
    "relu": "RELU", "sigmoid": "SIGMOID", "softmax": "SOFTMAX", "softmax_loss": "SOFTMAX_LOSS",
    "split": "SPLIT", "tanh": "TANH", "window_data": "WINDOW_DATA",
}  # fmt: skip


def _upgrade_v0(net: Any) -> None:
    """V0 ``layers { layer { type: "conv" ... } }`` → V1 fields in place (UpgradeV0Net), with
    V0's separate "padding" layers folded into the convolution that follows them."""
    if "layers" not in net.DESCRIPTOR.fields_by_name:
        return
    entries = [e for e in net.layers if e.HasField("layer")]
    if not entries:
        return
    pads: dict[str, tuple[str, int]] = {}  # padding top → (its bottom, pad)
    keep = []
    for e in net.layers:
        v0 = e.layer
        if e.HasField("layer") and v0.type == "padding":
            pads[e.top[0]] = (e.bottom[0], v0.pad)
            continue
        keep.append(e)
    for e in keep:
        if not e.HasField("layer"):
            continue
        v0 = e.layer
        kind = _V0_TYPES.get(v0.type)
        if kind is None:
            raise CaffeFormatError(f"{v0.name}: unknown V0 layer type {v0.type!r}")
        e.name = v0.name
        e.type = caffe_pb2.V1LayerParameter.LayerType.Value(kind)
        e.blobs.extend(v0.blobs)
        e.blobs_lr.extend(v0.blobs_lr)
        e.weight_decay.extend(v0.weight_decay)
        for i, b in enumerate(e.bottom):
            if b in pads:
                if kind != "CONVOLUTION":
                    raise CaffeFormatError(f"{v0.name}: a V0 padding layer must feed a conv")
                e.bottom[i] = pads[b][0]
                e.convolution_param.pad.append(pads[b][1])
        _copy_v0_params(e, v0, kind)
        e.ClearField("layer")
    del net.layers[:]
    net.layers.extend(keep)


def _copy_fillers(param: Any, v0: Any) -> None:
    for name in ("weight_filler", "bias_filler"):
        if v0.HasField(name):
            getattr(param, name).CopyFrom(getattr(v0, name))


def _copy_v0_params(e: Any, v0: Any, kind: str) -> None:
    """The V0 layer's own settings into the V1 entry's ``*_param`` message for ``kind``."""
    has = v0.HasField
    if kind == "CONVOLUTION":
        c = e.convolution_param
        c.num_output, c.bias_term = v0.num_output, v0.biasterm
        c.kernel_size.append(v0.kernelsize)
        c.group, c.stride[:] = v0.group, [v0.stride]
        if has("pad") and not c.pad:
            c.pad.append(v0.pad)
        _copy_fillers(c, v0)
    elif kind == "INNER_PRODUCT":
        ip = e.inner_product_param
        ip.num_output, ip.bias_term = v0.num_output, v0.biasterm
        _copy_fillers(ip, v0)
    elif kind == "POOLING":
        pp = e.pooling_param
        pp.pool, pp.kernel_size, pp.stride = v0.pool, v0.kernelsize, v0.stride
        if has("pad"):
            pp.pad = v0.pad
    elif kind == "DROPOUT":
        e.dropout_param.dropout_ratio = v0.dropout_ratio
    elif kind == "LRN":
        lrn = e.lrn_param
        lrn.local_size, lrn.alpha, lrn.beta, lrn.k = v0.local_size, v0.alpha, v0.beta, v0.k
    elif kind == "CONCAT":
        e.concat_param.concat_dim = v0.concat_dim
    elif kind in ("DATA", "IMAGE_DATA", "HDF5_DATA", "WINDOW_DATA"):
        t = e.transform_param
        t.scale, t.crop_size, t.mirror = v0.scale, v0.cropsize, v0.mirror
        if v0.meanfile:
            t.mean_file = v0.meanfile
        if kind == "DATA":
            d = e.data_param
            d.source, d.batch_size, d.rand_skip = v0.source, v0.batchsize, v0.rand_skip
        elif kind == "IMAGE_DATA":
            d = e.image_data_param
            d.source, d.batch_size, d.rand_skip = v0.source, v0.batchsize, v0.rand_skip
            d.shuffle, d.new_height, d.new_width = (v0.shuffle_images, v0.new_height,
                                                    v0.new_width)  # fmt: skip
        elif kind == "HDF5_DATA":
            e.hdf5_data_param.source, e.hdf5_data_param.batch_size = v0.source, v0.batchsize
        else:
            w = e.window_data_param
            w.source, w.batch_size = v0.source, v0.batchsize
    elif kind == "HDF5_OUTPUT" and has("hdf5_output_param"):
        e.hdf5_output_param.CopyFrom(v0.hdf5_output_param)


_TRANSFORM_HOSTS = ("data_param", "image_data_param", "window_data_param")


def _upgrade_transform(net: Any) -> None:
    """Data-layer scale/mean_file/crop_size/mirror → ``transform_param``
    (UpgradeNetDataTransformation)."""
    for layer in net.layer:
        for host in _TRANSFORM_HOSTS:
            if host not in layer.DESCRIPTOR.fields_by_name or not layer.HasField(host):
                continue
            src = getattr(layer, host)
            t = layer.transform_param
            for old, new in (("scale", "scale"), ("mean_file", "mean_file"),
                             ("crop_size", "crop_size"), ("mirror", "mirror")):  # fmt: skip
                if src.HasField(old):
                    setattr(t, new, getattr(src, old))
                    src.ClearField(old)


def _upgrade_v1(net: Any) -> None:
    """V1 ``layers`` → ``layer`` in place (Caffe's UpgradeV1Net)."""
    if "layers" not in net.DESCRIPTOR.fields_by_name or not net.layers:
        return
    if net.layer:
        raise CaffeFormatError("a net may not mix 'layer' and the legacy 'layers' fields")
    enum = caffe_pb2.V1LayerParameter.LayerType
    for old in net.layers:
        new = net.layer.add()
        new.name = old.name
        new.type = _V1_TYPES.get(enum.Name(old.type), enum.Name(old.type))
        new.bottom.extend(old.bottom)
        new.top.extend(old.top)
        new.include.extend(old.include)
        new.exclude.extend(old.exclude)
        new.loss_weight.extend(old.loss_weight)
        new.blobs.extend(old.blobs)
        count = max(len(old.blobs_lr), len(old.weight_decay), len(old.param))
        for i in range(count):
            spec = new.param.add()
            if i < len(old.param):
                spec.name = old.param[i]
            if i < len(old.blobs_lr):
                spec.lr_mult = old.blobs_lr[i]
            if i < len(old.weight_decay):
                spec.decay_mult = old.weight_decay[i]
        for name in _V1_SHARED_FIELDS:
            if old.HasField(name):
                getattr(new, name).CopyFrom(getattr(old, name))
    del net.layers[:]


def _upgrade_inputs(net: Any) -> None:
    """``input`` + ``input_dim``/``input_shape`` → an ``Input`` layer in front (UpgradeNetInput)."""
    if "input" not in net.DESCRIPTOR.fields_by_name or not net.input:
        return
    shapes = []
    if net.input_shape:
        shapes = [list(s.dim) for s in net.input_shape]
    elif net.input_dim:
        dims = list(net.input_dim)
        if len(dims) != 4 * len(net.input):
            raise CaffeFormatError("input_dim must give 4 values per input")
        shapes = [dims[4 * i : 4 * i + 4] for i in range(len(net.input))]
    layer = net.layer.add(name="input", type="Input")  # the net's own (dialect's) message type
    layer.top.extend(net.input)
    for dims in shapes:
        layer.input_param.shape.add().dim.extend(dims)
    layers = list(net.layer)
    del net.layer[:]
    net.layer.extend([layers[-1], *layers[:-1]])
    del net.input[:]
    del net.input_dim[:]
    del net.input_shape[:]


def _upgrade_batchnorm(net: Any) -> None:
    """BatchNorm's three ``param {}`` are frozen (lr_mult = decay_mult = 0), as Caffe forces."""
    for layer in net.layer:
        if layer.type == "BatchNorm":
            for spec in layer.param:
                spec.lr_mult = 0
                spec.decay_mult = 0


def upgrade_net(net: Any) -> Any:
    _upgrade_v0(net)
    _upgrade_v1(net)
    _upgrade_transform(net)
    _upgrade_inputs(net)
    _upgrade_batchnorm(net)
    return net


def read_net(src: str | os.PathLike, pb: ModuleType = PROTO) -> Any:
    """A ``NetParameter`` from a prototxt path or text, upgraded to the current format."""
    return upgrade_net(parse_text(src, pb.NetParameter()))


def read_weights(src: str | os.PathLike, pb: ModuleType = PROTO) -> Any:
    """A ``NetParameter`` with blobs from a binary ``.caffemodel``."""
    net = parse_binary(src, pb.NetParameter())
    try:  # the upgrade reads fields _decode_strings may not reach (legacy V0/V1 layers)
        return upgrade_net(net)
    except UnicodeDecodeError as exc:
        raise CaffeFormatError(
            f"{src}: not a valid caffemodel (a name is not UTF-8: {exc})"
        ) from None


def write_weights(net: Any, dest: str | os.PathLike) -> Path:
    return atomic_write(dest, lambda tmp: tmp.write_bytes(net.SerializeToString()))


def read_solver(src: str | os.PathLike, pb: ModuleType = PROTO) -> Any:
    return parse_text(src, pb.SolverParameter())


# -- blobs --------------------------------------------------------------------------------------


def blob_shape(blob: Any) -> tuple[int, ...]:
    """A blob's shape: ``shape.dim`` or the legacy num/channels/height/width."""
    if blob.HasField("shape"):
        return tuple(int(d) for d in blob.shape.dim)
    if blob.num or blob.channels or blob.height or blob.width:
        return (blob.num, blob.channels, blob.height, blob.width)
    return (len(blob.data) or len(blob.double_data),)


def checked_shape(blob: Any) -> tuple[int, ...]:
    """The blob's declared shape, refused when a side is negative or the count (exact, in
    Python integers: numpy's product wraps around) is not the number of values it holds."""
    shape = blob_shape(blob)
    held = max(len(blob.data), len(blob.double_data))
    if any(d < 0 for d in shape):
        raise CaffeFormatError(f"blob shape {shape} has a negative side")
    count = math.prod(shape)
    if count != held and not (held == 0 and count == 0):
        raise CaffeFormatError(f"blob shape {shape} declares {count:,} values, it holds {held:,}")
    return shape


def blobproto_to_array(blob: Any, return_diff: bool = False) -> np.ndarray:
    """pycaffe's ``caffe.io.blobproto_to_array``: the blob's values as an array of its shape."""
    if not return_diff:
        checked_shape(blob)
    if return_diff:
        values = blob.double_diff if len(blob.double_diff) else blob.diff
    else:
        values = blob.double_data if len(blob.double_data) else blob.data
    arr = np.asarray(values, dtype=np.float64 if len(blob.double_data) else np.float32)
    shape = blob_shape(blob)
    if int(np.prod(shape)) != arr.size:
        raise CaffeFormatError(f"blob holds {arr.size} values but its shape is {shape}")
    return arr.reshape(shape)


def array_to_blobproto(arr: np.ndarray, pb: ModuleType = PROTO) -> Any:
    blob = pb.BlobProto()
    blob.shape.dim.extend(int(d) for d in arr.shape)
    blob.data.extend(np.asarray(arr, np.float32).ravel().tolist())
    return blob


def read_mean(src: str | os.PathLike) -> np.ndarray:
    """A ``.binaryproto`` mean file as a (C, H, W) float32 array.

    compute_image_mean stores a (1, C, H, W) blob; that leading 1 is what makes pycaffe's
    ``Transformer.set_mean`` fail with "Mean shape invalid", so it is dropped here.
    """
    blob = parse_binary(src, PROTO.BlobProto())
    try:
        arr = blobproto_to_array(blob).astype(np.float32)
    except CaffeFormatError as exc:
        raise CaffeFormatError(f"{src}: {exc}") from None
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise CaffeFormatError(f"{src}: a mean image has 3 axes (C, H, W), this has {arr.shape}")
    return arr


# -- pycaffe's caffe.io: preprocessing ------------------------------------------------------------


class Transformer:
    """pycaffe's ``caffe.io.Transformer``: HWC float image in [0, 1] → CHW network input."""

    def __init__(self, inputs: dict[str, tuple[int, ...]]) -> None:
        self.inputs = inputs
        self.transpose: dict[str, tuple[int, ...]] = {}
        self.channel_swap: dict[str, tuple[int, ...]] = {}
        self.raw_scale: dict[str, float] = {}
        self.mean: dict[str, np.ndarray] = {}
        self.input_scale: dict[str, float] = {}

    def _check(self, name: str) -> None:
        if name not in self.inputs:
            raise OptionError(f"{name!r} is not one of the inputs {list(self.inputs)}")

    def set_transpose(self, name: str, order: tuple[int, ...]) -> None:
        self._check(name)
        self.transpose[name] = tuple(order)

    def set_channel_swap(self, name: str, order: tuple[int, ...]) -> None:
        self._check(name)
        self.channel_swap[name] = tuple(order)

    def set_raw_scale(self, name: str, scale: float) -> None:
        self._check(name)
        self.raw_scale[name] = scale

    def set_input_scale(self, name: str, scale: float) -> None:
        self._check(name)
        self.input_scale[name] = scale

    def set_mean(self, name: str, mean: np.ndarray) -> None:
        """A (C,) per-channel mean or a (C, H, W) mean image; a (1, C, H, W) one is accepted too
        (pycaffe rejects it with "Mean shape invalid")."""
        self._check(name)
        mean = np.asarray(mean, np.float32)
        if mean.ndim == 4 and mean.shape[0] == 1:
            mean = mean[0]
        channels = self.inputs[name][1]
        if mean.ndim == 1:
            if mean.shape[0] != channels:
                raise OptionError(f"mean has {mean.shape[0]} channels, the input {channels}")
            mean = mean[:, None, None]
        elif mean.ndim != 3 or mean.shape[0] != channels:
            raise OptionError(f"mean shape {mean.shape} does not fit input {self.inputs[name]}")
        self.mean[name] = mean

    def preprocess(self, name: str, image: np.ndarray) -> np.ndarray:
        self._check(name)
        data = np.asarray(image, np.float32)
        h, w = self.inputs[name][2:]
        if data.shape[:2] != (h, w):
            from skimage.transform import resize

            data = resize(data, (h, w), order=1, preserve_range=True).astype(np.float32)
        if name in self.transpose:
            data = data.transpose(self.transpose[name])
        if name in self.channel_swap:
            data = data[list(self.channel_swap[name]), ...]
        if name in self.raw_scale:
            data = data * self.raw_scale[name]
        if name in self.mean:
            mean = self.mean[name]
            if mean.shape[1:] != data.shape[1:] and mean.shape[1] > 1:
                top = (mean.shape[1] - data.shape[1]) // 2
                left = (mean.shape[2] - data.shape[2]) // 2
                mean = mean[:, top : top + data.shape[1], left : left + data.shape[2]]
            data = data - mean
        if name in self.input_scale:
            data = data * self.input_scale[name]
        return np.ascontiguousarray(data, np.float32)

    def deprocess(self, name: str, data: np.ndarray) -> np.ndarray:
        out = np.array(data, np.float32).squeeze()
        if name in self.input_scale:
            out = out / self.input_scale[name]
        if name in self.mean:
            out = out + self.mean[name]
        if name in self.raw_scale:
            out = out / self.raw_scale[name]
        if name in self.channel_swap:
            out = out[np.argsort(self.channel_swap[name]), ...]
        if name in self.transpose:
            out = out.transpose(np.argsort(self.transpose[name]))
        return out


def load_image(path: str | os.PathLike, color: bool = True) -> np.ndarray:
    """pycaffe's ``caffe.io.load_image``: HWC float32 RGB in [0, 1] (H×W×1 when ``color=False``)."""
    from decaf.core.images import load_image as load

    arr = np.asarray(load(path), np.float32) / 255.0
    if not color:
        arr = arr.mean(-1, keepdims=True)
    return arr


def resize_image(im: np.ndarray, new_dims: tuple[int, int], interp_order: int = 1) -> np.ndarray:
    """pycaffe's ``caffe.io.resize_image``: an H×W×K image to ``new_dims`` (spline order
    ``interp_order``), values kept as they are."""
    from skimage.transform import resize

    im = np.asarray(im, np.float32)
    out = resize(im, (*tuple(new_dims), im.shape[2]), order=interp_order, preserve_range=True,
                 anti_aliasing=False, mode="constant")  # as pycaffe (old skimage)  # fmt: skip
    return out.astype(np.float32)


def oversample(images: list[np.ndarray], crop_dims: tuple[int, int]) -> np.ndarray:
    """pycaffe's ``caffe.io.oversample``: per image the four corner crops and the centre crop,
    then their mirrors — 10 crops each, in pycaffe's order."""
    ch, cw = (int(d) for d in crop_dims)
    crops = []
    for im in images:
        h, w = im.shape[:2]
        tops, lefts = [0, 0, h - ch, h - ch, (h - ch) // 2], [0, w - cw, 0, w - cw, (w - cw) // 2]
        views = [im[t : t + ch, x : x + cw] for t, x in zip(tops, lefts, strict=True)]
        crops += views + [v[:, ::-1] for v in views]
    return np.stack(crops).astype(np.float32)


def array_to_datum(arr: np.ndarray, label: int | None = None, pb: ModuleType = PROTO) -> Any:
    """pycaffe's ``caffe.io.array_to_datum``: a (C, H, W) array; uint8 goes to ``data``,
    anything else to ``float_data``."""
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise CaffeFormatError(f"a Datum holds a (C, H, W) array, not one of shape {arr.shape}")
    datum = pb.Datum(channels=arr.shape[0], height=arr.shape[1], width=arr.shape[2])
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(arr.astype(np.float32).flat)
    if label is not None:
        datum.label = int(label)
    return datum


def datum_to_array(datum: Any) -> np.ndarray:
    """pycaffe's ``caffe.io.datum_to_array``: uint8 (C, H, W) from ``data``, else float."""
    shape = (datum.channels, datum.height, datum.width)
    if datum.encoded:
        raise CaffeFormatError("an encoded Datum holds a compressed picture: decode it first")
    if len(datum.data):
        if len(datum.data) != int(np.prod(shape)):
            raise CaffeFormatError(f"a Datum of shape {shape} holds {len(datum.data)} bytes")
        return np.frombuffer(datum.data, np.uint8).reshape(shape)
    return np.asarray(datum.float_data, np.float32).reshape(shape)


# -- dialects -----------------------------------------------------------------------------------


def load_dialect(proto_file: str | os.PathLike) -> ModuleType:
    """Compile a user's ``caffe.proto`` (e.g. caffe-fast-rcnn's) and return its ``_pb2`` module.

    Pass the module as ``pb=`` to the readers, so fields only that dialect knows parse.
    """
    from grpc_tools import protoc

    path = Path(proto_file).resolve()
    if not path.is_file():
        raise CaffeFormatError(f"{path}: no such .proto file")
    out = Path(tempfile.mkdtemp(prefix="decaf_proto_"))
    args = ["protoc", f"-I{path.parent}", f"--python_out={out}", str(path)]
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = protoc.main(args)
    if code != 0:
        raise CaffeFormatError(f"{path}: protoc could not compile it: {err.getvalue().strip()}")
    generated = out / f"{path.stem}_pb2.py"
    # its own descriptor pool: a dialect reuses the names "caffe.NetParameter" etc., which our
    # schema already holds in the default pool
    code_text = generated.read_text().replace(
        "_descriptor_pool.Default()", "_descriptor_pool.DescriptorPool()"
    )
    generated.write_text(code_text)
    name = f"decaf_dialect_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, generated)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
