"""decaf: pretrained convolutional networks as working tools.

``decaf.stylize(content, style, **options)`` is the main job; see ``decaf --help`` for the CLI.

Names here load on first use (PEP 562), so ``import decaf`` — and the ``decaf`` command, whose
help must print at once — starts without torch; :mod:`decaf.core.threads` can then choose
torch's thread settings before torch starts its thread pool.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__version__ = "0.1.0"

if "torch" not in sys.modules:  # library users get the CLI's thread settings (core/threads.py)
    from decaf.core.threads import configure as _configure

    _configure()

_LAZY = {
    "stylize": ("decaf.stylize", None),
    "classify": ("decaf.classify", None),
    "detect": ("decaf.detect", None),
    "DecafError": ("decaf.core.errors", "DecafError"),
    "ImageError": ("decaf.core.errors", "ImageError"),
    "OptionError": ("decaf.core.errors", "OptionError"),
    "WeightsError": ("decaf.core.errors", "WeightsError"),
    "load_image": ("decaf.core.images", "load_image"),
    "save_image": ("decaf.core.images", "save_image"),
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'decaf' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return value if attr is None else getattr(value, attr)


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
