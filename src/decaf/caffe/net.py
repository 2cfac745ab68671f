"""Build a torch module from a Caffe net description, with Caffe's net-level semantics.

:class:`CaffeNet` follows ``caffe::Net::Init`` (research §1.4):

- layers are filtered by include/exclude rules against a ``NetState`` (phase, level, stages);
- blobs are named; a layer whose top equals its bottom works in place (the name then refers to
  the newer value, as in Caffe);
- ``param { name: ... }`` shares one blob between layers (siamese nets);
- ``lr_mult``/``decay_mult`` per blob become :class:`~decaf.train.solver.ParamRule` s for the
  shared engine (:meth:`CaffeNet.param_rules`); lr_mult 0 freezes;
- weights load by layer *name* (:meth:`CaffeNet.copy_from`); layers absent from the caffemodel
  keep their fillers — renaming a layer is how Caffe fine-tunes;
- outputs are the blobs no layer consumes; losses are Σ loss_weight · Σ top.

Data layers that read files (Data, ImageData, HDF5Data, ...) are not built yet: such a net runs
with its data blobs given as inputs to :meth:`CaffeNet.forward`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from decaf.caffe import io as cio
from decaf.caffe.layers import FILLER_FIELDS, LAYERS, CaffeLayer, CaffeLayerError, fill
from decaf.caffe.proto import caffe_pb2

TRAIN, TEST = 0, 1
DATA_TYPES = {"Data", "ImageData", "HDF5Data", "WindowData", "MemoryData", "DummyData"}
# built as layers that make their own batches
SOURCE_TYPES = {"Data", "ImageData", "DummyData", "HDF5Data", "WindowData"}


def _source_layer(lp: Any, phase: int, base: Path | None) -> CaffeLayer:
    from decaf.caffe import data
    from decaf.caffe.layers import DummyData

    if lp.type == "Data":
        return data.DataLayer(lp, phase, base)
    if lp.type == "ImageData":
        return data.ImageDataLayer(lp, phase, base)
    if lp.type == "HDF5Data":
        return data.HDF5DataLayer(lp, phase, base)
    if lp.type == "WindowData":
        return data.WindowDataLayer(lp, phase, base)
    return DummyData(lp, [], phase)


def state_meets_rule(phase: int, level: int, stages: set[str], rule: Any) -> bool:
    """Caffe's ``Net::StateMeetsRule``."""
    if rule.HasField("phase") and rule.phase != phase:
        return False
    if rule.HasField("min_level") and level < rule.min_level:
        return False
    if rule.HasField("max_level") and level > rule.max_level:
        return False
    if any(s not in stages for s in rule.stage):
        return False
    return not any(s in stages for s in rule.not_stage)


def filter_layers(net: Any, phase: int, level: int = 0, stages: Iterable[str] = ()) -> list[Any]:
    """The layers a net in this state contains (``Net::FilterNet``)."""
    stage_set = set(stages)
    kept = []
    for layer in net.layer:
        if layer.include and layer.exclude:
            raise CaffeLayerError(f"{layer.name}: a layer may have include or exclude, not both")
        if layer.include:
            ok = any(state_meets_rule(phase, level, stage_set, r) for r in layer.include)
        else:
            ok = not any(state_meets_rule(phase, level, stage_set, r) for r in layer.exclude)
        if ok:
            kept.append(layer)
    return kept


#: The name Caffe gives the top it creates for a loss layer declared without one
#: (``LossLayer::AutoTopBlobs``). Such a top counts in the loss but is not a net output.
AUTOMATIC = "(automatic)"


def _with_automatic_tops(layers: list[Any]) -> tuple[list[Any], dict[int, Any]]:
    """Loss layers without a ``top`` get one, as Caffe's net does; the copies remember the
    layer as written, for :meth:`CaffeNet.to_proto`."""
    out, written, n = [], {}, 0
    for lp in layers:
        cls = LAYERS.get(lp.type)
        if lp.top or cls is None or not getattr(cls, "is_loss", False):
            out.append(lp)
            continue
        copy = caffe_pb2.LayerParameter()
        copy.CopyFrom(lp)
        n += 1
        copy.top.append(AUTOMATIC if n == 1 else f"{AUTOMATIC}#{n}")
        written[id(copy)] = lp
        out.append(copy)
    return out, written


@contextlib.contextmanager
def naming(path: str | os.PathLike | None) -> Iterator[None]:
    """Errors raised inside name ``path``, the file they are about (once: not when the message
    names it already)."""
    try:
        yield
    except CaffeLayerError as exc:
        text = str(exc)
        if path is None or str(path) in text or Path(path).name in text:
            raise
        raise CaffeLayerError(f"{path}: {text}") from None


def _folders(paths: Sequence[str | os.PathLike]) -> tuple[Path, ...]:
    """``python_path`` checked: each one an existing folder."""
    for path in paths:
        if not Path(path).is_dir():
            raise CaffeLayerError(f"--python-path {path}: not a folder")
    return tuple(Path(p) for p in paths)


def _module_key(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", name) or "_"


#: The largest input blob a net may declare: 2^31 floats (8 GB). A prototxt (or --batch) asking
#: for more is refused from the declared sizes, before anything is allocated.
MAX_BLOB_ELEMENTS = 2**31


def _check_blob_size(layer: str, top: str, shape: tuple[int, ...]) -> None:
    if any(d < 1 for d in shape):
        raise CaffeLayerError(f"{layer}: blob {top!r} has shape {shape}; every size must be ≥ 1")
    elements = 1
    for d in shape:
        elements *= d
    if elements > MAX_BLOB_ELEMENTS:
        raise CaffeLayerError(f"{layer}: blob {top!r} of shape {shape} would hold "
                              f"{elements:,} values, more than the {MAX_BLOB_ELEMENTS:,} decaf "
                              "allows")  # fmt: skip


@dataclass
class _Build:
    """What building a net keeps track of: each blob's shape and an example value (run through
    the layers so later layers learn their bottoms' shapes), producers and consumers."""

    given: dict[str, tuple[int, ...]]
    base: Path | None
    allow_python: bool
    python_path: tuple[Path, ...] = ()
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    example: dict[str, torch.Tensor] = field(default_factory=dict)
    produced: list[str] = field(default_factory=list)
    consumed: set[str] = field(default_factory=set)
    owners: dict[str, tuple[Any, int]] = field(default_factory=dict)

    def produce(self, top: str, value: torch.Tensor) -> None:
        self.shapes[top] = tuple(value.shape)
        self.example[top] = value
        self.produced.append(top)


class CaffeNet(nn.Module):
    """A Caffe net as a torch module. ``forward(**blobs)`` → ``{output name: tensor}``."""

    def __init__(
        self,
        net: Any,
        phase: int = TEST,
        level: int = 0,
        stages: Iterable[str] = (),
        input_shapes: dict[str, tuple[int, ...]] | None = None,
        base: str | os.PathLike | None = None,
        allow_python: bool = False,
        python_path: Sequence[str | os.PathLike] = (),
        weights: Any = None,
    ) -> None:
        """``base``: the folder relative data sources (LMDB, mean files) and Python-layer modules
        are looked up in. ``allow_python``: build ``Python`` layers (they run arbitrary code);
        ``python_path``: more folders their modules are imported from (py-faster-rcnn's lib).
        ``weights`` (a caffemodel): loaded by layer name, and only the layers it lacks are
        filled — the same net as filling all and loading, without the fillers' time."""
        super().__init__()
        self.proto = net
        self.phase = phase
        self.layer_params = filter_layers(net, phase, level, stages)
        self.layers = nn.ModuleDict()
        self.order: list[tuple[str, Any]] = []  # (module key, LayerParameter)
        self.inputs: list[str] = []
        self.mults: dict[str, tuple[float, float]] = {}
        build = _Build(dict(input_shapes or {}), Path(base) if base is not None else None,
                       allow_python, _folders(python_path))  # fmt: skip
        self.layer_params, self._written = _with_automatic_tops(self.layer_params)
        self._build_layers(build, defer_fill=weights is not None)
        self.blob_shapes = build.shapes
        #: every blob once, in the order Caffe creates them (pycaffe's ``net.blobs`` order)
        self.blob_names = list(dict.fromkeys(build.produced))
        self.outputs = [b for b in self.blob_names
                        if b not in build.consumed and not b.startswith(AUTOMATIC)]  # fmt: skip
        self.blob_values: dict[str, torch.Tensor] = {}
        #: called with each layer's name before / after its forward (pycaffe's before_forward)
        self.before_layer: list[Callable[[str], None]] = []
        self.after_layer: list[Callable[[str], None]] = []
        #: inference (eval mode, no gradients) folds BatchNorm/Scale into convolutions by
        #: itself (see :meth:`fuse`); pycaffe's Net turns it on
        self.auto_fuse = False
        self._freeze_unlearned()
        if weights is not None:
            self._load_then_fill(weights)

    def _build_layers(self, build: _Build, defer_fill: bool) -> None:
        """Every layer of the filtered net, in order, each from its bottoms' shapes."""
        for lp in self.layer_params:
            if lp.type in SOURCE_TYPES and not all(t in build.given for t in lp.top):
                self._add_source(lp, build)
            elif lp.type == "Input" or lp.type in DATA_TYPES:
                self._add_input(lp, build)
            elif lp.type == "HDF5Output":
                from decaf.caffe.data import HDF5OutputLayer

                layer = HDF5OutputLayer(lp, [build.shapes[b] for b in lp.bottom], self.phase,
                                        build.base)  # fmt: skip
                self._register(lp, layer)
                build.consumed.update(lp.bottom)
            else:
                self._add_layer(lp, build, defer_fill=defer_fill)
        if not self.order:
            phase_name = "TRAIN" if self.phase == TRAIN else "TEST"
            raise CaffeLayerError(f"net {self.proto.name or '(unnamed)'!r} has no layers in "
                                  f"phase {phase_name}: nothing to run or convert")  # fmt: skip

    def _register(self, lp: Any, layer: nn.Module) -> str:
        key = self._key(lp.name)
        self.layers[key] = layer
        self.order.append((key, lp))
        return key

    def _add_source(self, lp: Any, build: _Build) -> None:
        """A layer that reads its own data (LMDB, images, HDF5, dummy data)."""
        data = _source_layer(lp, self.phase, build.base)
        self._register(lp, data)
        for top, shape in zip(lp.top, data.shapes, strict=False):
            build.produce(top, torch.zeros(shape))

    def _add_input(self, lp: Any, build: _Build) -> None:
        """Input / MemoryData / a source the caller feeds: the blobs it declares."""
        dims = [list(s.dim) for s in lp.input_param.shape] if lp.type == "Input" else []
        if lp.type == "MemoryData":  # fed by the caller: net.set_input_arrays / forward
            m = lp.memory_data_param
            dims = [[m.batch_size, m.channels, m.height, m.width], [m.batch_size]]
        for i, top in enumerate(lp.top):
            if top in build.given:
                shape = tuple(build.given[top])
            elif dims and (len(dims) == 1 or i < len(dims)):
                # one shape serves every top (InputLayer's num_shape == 1 rule)
                shape = tuple(int(d) for d in (dims[i] if len(dims) > 1 else dims[0]))
            else:
                raise CaffeLayerError(
                    f"{lp.name}: {lp.type} has no shape of its own; give the shape of "
                    f"{top!r} (input_shapes={{'{top}': (N, C, H, W)}}) and feed it"
                )
            _check_blob_size(lp.name, top, shape)
            build.produce(top, torch.zeros(shape))
            self.inputs.append(top)

    def _load_then_fill(self, weights: Any) -> None:
        """Blobs from ``weights``; fillers for the blobs no loaded layer holds."""
        loaded = set(self.copy_from(weights))
        held = {id(b) for key, lp in self.order if lp.name in loaded
                for b in self.layers[key].blobs}  # fmt: skip
        for key, lp in self.order:
            if lp.name not in loaded:
                self._fill(self.layers[key], lp, skip=held)

    def _add_layer(self, lp: Any, build: _Build, defer_fill: bool = False) -> None:
        """A computing layer: built from its bottoms' shapes, run once on example blobs so its
        tops' shapes are known to the layers after it."""
        missing = [b for b in lp.bottom if b not in build.shapes]
        if missing:
            raise CaffeLayerError(f"{lp.name}: unknown bottom blob(s) {missing}")
        bottom_shapes = [build.shapes[b] for b in lp.bottom]
        if lp.type == "Python":
            if not build.allow_python:
                raise CaffeLayerError(
                    f"{lp.name}: Python layers run arbitrary code from "
                    f"{lp.python_param.module!r}; allow them explicitly "
                    "(--allow-python-layers, or allow_python=True)"
                )
            from decaf.caffe.python_layer import PythonLayer

            layer: CaffeLayer = PythonLayer(
                lp, bottom_shapes, self.phase, build.base, build.python_path
            )
        else:
            cls = LAYERS.get(lp.type)
            if cls is None:
                raise CaffeLayerError(f"{lp.name}: layer type {lp.type!r} is not supported")
            layer = cls(lp, bottom_shapes, lp.phase if lp.HasField("phase") else self.phase)
            if not defer_fill:
                self._fill(layer, lp)
        self._share_params(lp, layer, self._key(lp.name), build.owners)
        self._register(lp, layer)
        with torch.no_grad():
            outs = layer(*[build.example[b] for b in lp.bottom])
            if lp.type == "BatchNorm":  # a TRAIN pass on the example moved its statistics
                for blob in layer.blobs:
                    blob.zero_()
        for top, value in zip(lp.top, outs, strict=False):
            build.produce(top, value)
        build.consumed.update(b for b in lp.bottom if b not in lp.top)

    def _share_params(self, lp: Any, layer: CaffeLayer, key: str,
                      owners: dict[str, tuple[CaffeLayer, int]]) -> None:  # fmt: skip
        """Named params (``param { name: "w" }``) are one tensor across layers; every learnable
        blob's lr/decay multipliers are recorded (BatchNorm's statistics are not learnable)."""
        for i, blob in enumerate(layer.blobs):
            spec = lp.param[i] if i < len(lp.param) else caffe_pb2.ParamSpec()
            if spec.name:
                if spec.name in owners:
                    owner, j = owners[spec.name]
                    if owner.blobs[j].numel() != blob.numel():
                        raise CaffeLayerError(
                            f"{lp.name}: shared param {spec.name!r} has another size"
                        )
                    layer.blobs[i] = owner.blobs[j]
                    continue
                owners[spec.name] = (layer, i)
            if layer.type == "BatchNorm":
                continue
            self.mults[f"{key}.blobs.{i}"] = (spec.lr_mult, spec.decay_mult)

    def _freeze_unlearned(self) -> None:
        """Blobs whose every use has ``lr_mult: 0`` take no gradient (Caffe skips their
        backward): autograd then stops where nothing below learns, as Caffe's
        ``layer_need_backward`` does. Set ``requires_grad`` again to learn them after all."""
        for name, param in self.named_parameters():
            lr, _ = self.mults.get(name.removeprefix("layers."), (1.0, 1.0))
            if lr == 0:
                param.requires_grad_(False)

    def infer_shapes(self, given: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """Every blob's shape for these input shapes (Caffe's ``Net::Reshape``), by running
        the layers on zeros; ``given`` may name any subset of :attr:`inputs`."""
        for name, shape in given.items():
            if name not in self.inputs:
                raise CaffeLayerError(f"{name!r} is not an input of this net ({self.inputs})")
            _check_blob_size(name, name, tuple(shape))
        values = {n: torch.zeros(tuple(given.get(n, self.blob_shapes[n]))) for n in self.inputs}
        with torch.inference_mode():
            for key, lp in self.order:
                if lp.type == "HDF5Output":  # writes rows: not for a shape pass
                    continue
                if lp.type in SOURCE_TYPES:
                    outs = [torch.zeros(s) for s in self.layers[key].shapes]  # type: ignore[union-attr]
                else:
                    outs = _run_layer(lp, self.layers[key], [values[b] for b in lp.bottom])
                values.update(zip(lp.top, outs, strict=False))
        return {name: tuple(values[name].shape) for name in self.blob_names if name in values}

    def reshape(self, given: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        """Adopt new input shapes: :attr:`blob_shapes` follows (the net runs at any size
        anyway; this is for code that reads shapes before the first forward)."""
        self.blob_shapes = self.infer_shapes(given)
        return self.blob_shapes

    def _key(self, name: str) -> str:
        """A module key for layer ``name``; Caffe allows two layers one name (the autoencoder
        example has two "loss" layers), so later ones get a suffix."""
        key = _module_key(name)
        n = 1
        while key in self.layers:
            n += 1
            key = f"{_module_key(name)}__{n}"
        return key

    @staticmethod
    def _fill(layer: CaffeLayer, lp: Any, skip: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        """The layer's fillers, except into blobs in ``skip`` (ids of blobs already loaded)."""
        fields = FILLER_FIELDS.get(lp.type)
        if fields is None:
            return
        param = getattr(lp, fields[0])
        for i, name in enumerate(fields[1:]):
            if name and i < len(layer.blobs) and id(layer.blobs[i]) not in skip:
                fill(layer.blobs[i].data, getattr(param, name))

    # -- inference plan --------------------------------------------------------------------
    def fuse(self) -> CaffeNet:
        """Fold every in-place BatchNorm (+ Scale) into the convolution before it, for inference.

        conv → BatchNorm(global stats) → Scale on the same blob becomes one convolution with
        w' = w·γ/σ and b' = (b − μ)·γ/σ + β, and activations run channels-last. The blobs a
        fused net exposes are the same values up to float rounding; the folded copies do not
        follow later edits of the weights (call :meth:`fuse` again), and training ignores them.
        :attr:`auto_fuse` does the same by itself and follows edits made through torch.
        """
        self._plan, _ = self._fused_plan()
        return self

    def unfuse(self) -> CaffeNet:
        self._plan = None
        return self

    def _fused_plan(self) -> tuple[list[tuple[str, Any, Any]], int]:
        """The layers to run with conv → BatchNorm → Scale chains folded; how many folded."""
        plan: list[tuple[str, Any, Any]] = []
        skip: set[int] = set()
        for i, (key, lp) in enumerate(self.order):
            if i in skip:
                continue
            folded = self._fold(i)
            if folded is None:
                plan.append((key, lp, self.layers[key]))
                continue
            w, b, used = folded
            skip.update(used)
            w = w.contiguous(memory_format=torch.channels_last)
            plan.append((key, lp, _FusedConv(self.layers[key], w, b)))
        return plan, len([step for step in plan if isinstance(step[2], _FusedConv)])

    def _in_place_after(self, i: int, kind: str, top: str) -> Any | None:
        """Layer i + 1 when it is a ``kind`` layer working in place on ``top``."""
        if i + 1 >= len(self.order):
            return None
        key, lp = self.order[i + 1]
        ok = lp.type == kind and list(lp.bottom) == [top] == list(lp.top)
        return self.layers[key] if ok else None

    def _fold(self, i: int) -> tuple[torch.Tensor, torch.Tensor, list[int]] | None:
        """Layer i folded with the BatchNorm (and Scale) after it: (w', b', folded indices)."""
        key, lp = self.order[i]
        conv = self.layers[key]
        if lp.type != "Convolution" or len(lp.top) != 1 or conv.transposed:
            return None
        top = lp.top[0]
        bn = self._in_place_after(i, "BatchNorm", top)
        if bn is None or not bn.use_global:
            return None
        w = conv.blobs[0].detach()
        b = conv.blobs[1].detach() if conv.bias_term else torch.zeros(w.shape[0])
        s = float(bn.blobs[2].detach())
        f = 0.0 if s == 0 else 1.0 / s
        mean, var = bn.blobs[0].detach() * f, bn.blobs[1].detach() * f
        inv = 1.0 / torch.sqrt(var + bn.eps)
        w, b = w * inv.view(-1, 1, 1, 1), (b - mean) * inv
        sc = self._in_place_after(i + 1, "Scale", top)
        if sc is None or sc.two or sc.blobs[0].numel() != w.shape[0]:
            return w, b, [i + 1]
        g = sc.blobs[0].detach().reshape(-1)
        w, b = w * g.view(-1, 1, 1, 1), b * g
        if sc.bias_term:
            b = b + sc.blobs[1].detach().reshape(-1)
        return w, b, [i + 1, i + 2]

    def _auto_plan(self) -> list[tuple[str, Any, Any]] | None:
        """The folded plan for :attr:`auto_fuse`, rebuilt when a parameter was changed in
        place through torch (its version counter moves) or replaced (:meth:`share_with`,
        :meth:`weights_changed`); None when nothing folds."""
        cached = getattr(self, "_auto", None)
        if cached is not None and cached[1] == tuple(p._version for p in cached[0]):
            return cached[2]
        plan, folded = self._fused_plan()
        params = list(self.parameters())
        self._auto = (params, tuple(p._version for p in params), plan if folded else None)
        return self._auto[2]

    def weights_changed(self) -> None:
        """Tell the net its weights were written behind torch's back (numpy views, ``.data``):
        the automatic folded plan is rebuilt before the next forward."""
        self._auto = None

    # -- running -----------------------------------------------------------------------------
    def forward(self, **blobs: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.run(blobs)

    def run(
        self, blobs: dict[str, torch.Tensor], start: str | None = None, end: str | None = None
    ) -> dict[str, torch.Tensor]:
        """Forward from layer ``start`` to layer ``end`` (inclusive; pycaffe's forward(start=,
        end=)). Blobs a partial run needs come from ``blobs``, then from the previous run."""
        names = [lp.name for _, lp in self.order]
        for which in (start, end):
            if which is not None and which not in names:
                raise CaffeLayerError(f"no layer named {which!r}")
        first = names.index(start) if start is not None else 0
        last = names.index(end) if end is not None else len(names) - 1
        if start is None:
            missing = [name for name in self.inputs if name not in blobs]
            if missing:
                raise CaffeLayerError(f"missing inputs {missing}; the net takes {self.inputs}")
        values = {**(self.blob_values if start is not None else {}), **blobs}
        plan = getattr(self, "_plan", None)
        if plan is None and self.auto_fuse and not self.training and not torch.is_grad_enabled():
            plan = self._auto_plan()
        if plan is not None:
            values = {
                k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                for k, v in values.items()
            }
        self.losses: dict[str, torch.Tensor] = {}
        steps = plan if plan is not None else [(k, lp, self.layers[k]) for k, lp in self.order]
        chosen = {id(lp) for _, lp in self.order[first : last + 1]}
        for _key, lp, layer in steps:
            if id(lp) not in chosen:
                continue
            bottoms = [values[b] for b in lp.bottom]
            if lp.propagate_down:  # false: no gradient flows into that bottom
                bottoms = [x if keep else x.detach() for x, keep in
                           zip(bottoms, lp.propagate_down, strict=False)]  # fmt: skip
            for hook in self.before_layer:
                hook(lp.name)
            outs = _run_layer(lp, layer, bottoms)
            for i, (top, value) in enumerate(zip(lp.top, outs, strict=False)):
                values[top] = value
                w = loss_weight(lp, i)
                if w:
                    self.losses[top] = w * value.sum()
            for hook in self.after_layer:
                hook(lp.name)
        self.blob_values = values
        if end is not None:
            return {top: values[top] for top in self.order[last][1].top if top in values}
        return {name: values[name] for name in self.outputs}

    def loss(self) -> torch.Tensor:
        """Σ loss_weight · Σ top over the last forward's loss tops."""
        if not self.losses:
            raise CaffeLayerError("this net has no loss layer")
        return torch.stack(list(self.losses.values())).sum()

    # -- parameters --------------------------------------------------------------------------
    def param_rules(self) -> list[Any]:
        """lr_mult/decay_mult of every learnable blob as rules for the shared training engine."""
        from decaf.train.solver import ParamRule

        return [ParamRule(f"re:^layers\\.{re.escape(k)}$", lr, dm) for k, (lr, dm) in
                self.mults.items()]  # fmt: skip

    def share_with(self, other: CaffeNet) -> None:
        """Use ``other``'s blobs in every layer of the same name and blob count (Caffe's
        ``ShareTrainedLayersWith``: how test nets follow the train net)."""
        theirs = {lp.name: other.layers[k] for k, lp in other.order}
        for key, lp in self.order:
            src, layer = theirs.get(lp.name), self.layers[key]
            if src is None or len(layer.blobs) != len(src.blobs):
                continue
            for i in range(len(layer.blobs)):
                layer.blobs[i] = src.blobs[i]
        self.weights_changed()

    def layer_by_name(self, name: str) -> CaffeLayer:
        return self.layers[_module_key(name)]  # type: ignore[return-value]

    def copy_from(self, weights: Any, strict_names: bool = False) -> list[str]:
        """Load blobs by layer name from a caffemodel (path or NetParameter); returns loaded names.

        Layers the caffemodel lacks keep their filler values. A layer whose blob count or sizes
        differ is an error naming it.
        """
        if isinstance(weights, str | os.PathLike):
            with naming(weights):
                return self._copy_from(cio.read_weights(weights), strict_names)
        return self._copy_from(weights, strict_names)

    def _copy_from(self, weights: Any, strict_names: bool) -> list[str]:
        by_name = {layer.name: layer for layer in weights.layer if len(layer.blobs)}
        loaded = []
        for key, lp in self.order:
            layer = self.layers[key]
            src = by_name.get(lp.name)
            if src is None or len(layer.blobs) == 0:
                continue
            if len(src.blobs) != len(layer.blobs):
                raise CaffeLayerError(
                    f"{lp.name}: the caffemodel has {len(src.blobs)} blobs, the net wants "
                    f"{len(layer.blobs)}"
                )
            for blob, target in zip(src.blobs, layer.blobs, strict=True):
                try:  # the declared sizes are checked before any array is made
                    cio.checked_shape(blob)
                except cio.CaffeFormatError as exc:
                    raise CaffeLayerError(f"{lp.name}: {exc}; the net wants "
                                          f"{tuple(target.shape)}") from None  # fmt: skip
                arr = cio.blobproto_to_array(blob)
                if arr.size != target.numel():
                    raise CaffeLayerError(
                        f"{lp.name}: blob of shape {arr.shape} does not fit {tuple(target.shape)}"
                    )
                with torch.no_grad():
                    target.copy_(torch.from_numpy(arr.astype(np.float32)).reshape(target.shape))
            loaded.append(lp.name)
        if strict_names and not loaded:
            raise CaffeLayerError("no layer of the caffemodel matches this net by name")
        return loaded

    def to_proto(self) -> Any:
        """The net's layers with their current blobs, as a NetParameter (a caffemodel)."""
        out = caffe_pb2.NetParameter()
        out.CopyFrom(self.proto)
        del out.layer[:]
        keys = {id(lp): key for key, lp in self.order}
        for lp in self.layer_params:
            new = out.layer.add()
            new.CopyFrom(self._written.get(id(lp), lp))
            del new.blobs[:]
            key = keys.get(id(lp))
            if key is not None:
                for t in self.layers[key].caffe_blobs():  # type: ignore[operator]
                    new.blobs.append(cio.array_to_blobproto(t.detach().cpu().numpy()))
        return out

    def save(self, dest: str | os.PathLike) -> Path:
        """Write a caffemodel that Caffe and OpenCV read (blobs with explicit shapes)."""
        return cio.write_weights(self.to_proto(), dest)


def loss_weight(lp: Any, i: int) -> float:
    """Top ``i``'s loss weight: as declared, else 1 for a loss layer's first top, else 0."""
    if i < len(lp.loss_weight):
        return float(lp.loss_weight[i])
    cls = LAYERS.get(lp.type)
    return 1.0 if i == 0 and getattr(cls, "is_loss", False) else 0.0


def _run_layer(lp: Any, layer: Any, bottoms: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """One layer's forward; torch's shape errors become errors naming the layer and sizes."""
    try:
        return layer(*bottoms)
    except (RuntimeError, ValueError, IndexError) as exc:
        sizes = ", ".join(f"{b} {tuple(x.shape)}" for b, x in zip(lp.bottom, bottoms,
                                                                 strict=False))  # fmt: skip
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CaffeLayerError(f"{lp.name} ({lp.type}) cannot take {sizes}: {first}") from None


class _FusedConv:
    """A convolution with BatchNorm/Scale folded in (see :meth:`CaffeNet.fuse`)."""

    def __init__(self, conv: Any, weight: torch.Tensor, bias: torch.Tensor) -> None:
        self.conv, self.weight, self.bias = conv, weight, bias

    def __call__(self, *bottoms: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c = self.conv
        return tuple(
            torch.nn.functional.conv2d(
                x, self.weight, self.bias, c.stride, c.pad, c.dilation, c.group
            )  # fmt: skip
            for x in bottoms
        )


def load(
    prototxt: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    phase: int = TEST,
    **kwargs: Any,
) -> CaffeNet:
    fuse = kwargs.pop("fuse", False)
    with naming(prototxt):
        net = CaffeNet(cio.read_net(prototxt), phase=phase, weights=weights, **kwargs)
    net.train(phase == TRAIN)
    return net.fuse() if fuse else net


def to_bundle(net: CaffeNet, dest: str | os.PathLike, prototxt_text: str) -> Path:
    """A decaf bundle (task ``caffe``) holding the prototxt and every layer's blobs by name."""
    from decaf.core.bundle import save_bundle

    state = {}
    for key, lp in net.order:
        for i, blob in enumerate(net.layers[key].caffe_blobs()):  # type: ignore[operator]
            state[f"{lp.name}/{i}"] = blob.detach().clone()
    return save_bundle(
        {"task": "caffe", "arch": net.proto.name or "caffe", "state_dict": state,
         "prototxt": prototxt_text, "inputs": net.inputs, "outputs": net.outputs},
        dest,
    )  # fmt: skip


def from_bundle(src: str | os.PathLike) -> CaffeNet:
    """The CaffeNet stored by :func:`to_bundle` (weights_only load)."""
    from decaf.core.bundle import BundleError, load_bundle

    bundle = load_bundle(src, task="caffe")
    net = CaffeNet(cio.read_net(bundle["prototxt"]))
    names = {lp.name: key for key, lp in net.order}
    for name_i, tensor in bundle["state_dict"].items():
        name, _, index = name_i.rpartition("/")
        if name not in names:
            raise BundleError(f"{src}: layer {name!r} is not in the stored prototxt")
        blob = net.layers[names[name]].blobs[int(index)]
        with torch.no_grad():
            blob.copy_(tensor.reshape(blob.shape))
    return net.eval()


def score(net: CaffeNet, iterations: int) -> dict[str, float]:
    """``caffe test``: every output averaged over ``iterations`` forward passes."""
    sums: dict[str, float] = {}
    with torch.no_grad():
        for _ in range(iterations):
            for k, v in net().items():
                sums[k] = sums.get(k, 0.0) + float(v.mean())
    return {k: v / iterations for k, v in sums.items()}


def time_forward(net: CaffeNet, inputs: dict[str, torch.Tensor], iterations: int) -> list[float]:
    """``caffe time``: seconds per forward pass (after one warm-up pass), inference mode."""
    import time

    times = []
    with torch.inference_mode():
        net(**inputs)
        for _ in range(iterations):
            t = time.perf_counter()
            net(**inputs)
            times.append(time.perf_counter() - t)
    return times
