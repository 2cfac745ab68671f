"""Classifiers: a zoo backbone with a new head, freezing by stage, and the bundle format.

The head is whatever timm calls the classifier of that architecture (``classifier``, ``fc``,
``head.fc``, ``last_linear``...): :func:`head_patterns` finds it from the model's own config, so the
fine-tuning recipe works for every family without a table. Stages come from timm's
``group_matcher`` (stem, then each block group, then the head), so "freeze the first k stages"
means the same thing for a VGG and a CoAtNet. Frozen parts are converted with
``timm.utils.freeze``, which also turns their BatchNorm layers into FrozenBatchNorm: running
statistics then stay put even though the rest of the net is in training mode (the classic
"frozen BN still updates" trap).
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from decaf.core.bundle import BundleError, load_bundle, save_bundle
from decaf.core.errors import OptionError
from decaf.zoo.registry import create_model, get_spec

TASK = "classify"


def build(
    backbone: str,
    num_classes: int,
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
) -> nn.Module:
    """``backbone`` from the zoo with a fresh ``num_classes`` head (ImageNet weights by default)."""
    if num_classes < 1:
        raise OptionError(f"a classifier needs at least one class, got {num_classes}")
    return create_model(backbone, pretrained=pretrained, weights=weights, num_classes=num_classes)


def head_patterns(model: nn.Module) -> list[str]:
    """Parameter-name globs of the classification head (e.g. ``["classifier.*"]``)."""
    names = model.pretrained_cfg.get("classifier") if hasattr(model, "pretrained_cfg") else None
    if not names:
        raise OptionError(f"{type(model).__name__}: cannot tell which layer is the head")
    if isinstance(names, str):
        names = [names]
    return [f"{n}.*" for n in names]


def stages(model: nn.Module) -> list[list[str]]:
    """Module names grouped into stages, input side first; the last group is the head."""
    from timm.models import group_modules

    groups = group_modules(model, model.group_matcher(coarse=True))
    return [groups[k] for k in sorted(groups)]


def freeze(model: nn.Module, first: int | None) -> int:
    """Freeze the first ``first`` stages after the stem (stem included); ``-1`` = whole backbone.

    Returns how many parameters were frozen. ``None`` or ``0`` freezes nothing.
    """
    if not first:
        return 0
    from timm.utils.model import freeze as timm_freeze

    groups = stages(model)[:-1]  # never the head
    chosen = groups if first < 0 else groups[: first + 1]
    if first > len(groups) - 1:
        raise OptionError(f"the backbone has {len(groups) - 1} stages; cannot freeze {first}")
    modules = [m for g in chosen for m in g]
    before = sum(p.numel() for p in model.parameters() if p.requires_grad)
    timm_freeze(model, modules)
    return before - sum(p.numel() for p in model.parameters() if p.requires_grad)


def preprocessing(backbone: str, size: int | None = None) -> dict[str, Any]:
    spec = get_spec(backbone)
    return {
        "input_size": int(size or spec.input_size),
        "mean": list(spec.mean),
        "std": list(spec.std),
        "crop_pct": spec.crop_pct,
    }


def save(
    model: nn.Module,
    dest: str | os.PathLike,
    backbone: str,
    classes: list[str],
    prep: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a classifier bundle: one file that :func:`load` turns back into a working model."""
    from decaf import __version__

    return save_bundle(
        {
            "task": TASK,
            "arch": backbone,
            "num_classes": len(classes),
            "classes": list(classes),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "preprocessing": prep,
            "metrics": metrics or {},
            "provenance": {
                "decaf": __version__,
                "torch": torch.__version__,
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                **(provenance or {}),
            },
        },
        dest,
    )


def load(src: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """``(model in eval mode, bundle)`` from a classifier bundle."""
    bundle = load_bundle(src, task=TASK)
    model = build(bundle["arch"], int(bundle["num_classes"]), pretrained=False)
    missing, unexpected = model.load_state_dict(bundle["state_dict"], strict=False)
    # frozen BatchNorm layers do not keep num_batches_tracked; nothing else may differ
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise BundleError(
            f"{src}: weights do not fit {bundle['arch']} "
            f"(missing {missing[:3]}, unexpected {list(unexpected)[:3]})"
        )
    return model.eval(), bundle
