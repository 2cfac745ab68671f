"""Which device a network runs on: ``auto`` (the local GPU when there is one), ``cpu``,
``cuda`` or ``cuda:N``. Asking for a GPU that is not there is an error, not a silent CPU run."""

from __future__ import annotations

import torch

from decaf.core.errors import OptionError


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    if isinstance(name, torch.device):
        return name
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise OptionError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(f"device {name!r}: no CUDA GPU is available here; use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise OptionError(f"device {name!r}: this machine has "
                              f"{torch.cuda.device_count()} GPU(s)")  # fmt: skip
    elif device.type != "cpu":
        raise OptionError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


def check_device_name(name: str) -> str:
    """Validate a device name in an options dataclass without touching CUDA yet."""
    lowered = (name or "").strip().lower()
    if lowered in ("auto", "cpu", "cuda") or (lowered.startswith("cuda:") and
                                               lowered[5:].isdigit()):  # fmt: skip
        return lowered
    raise OptionError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
