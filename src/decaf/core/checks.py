"""Small checks the option dataclasses share, each raising :class:`OptionError` with the name,
the value and the allowed range. ``nan`` fails every one of them: comparisons with NaN are
false, so a plain ``value > 0`` test would let it through."""

from __future__ import annotations

import math

from decaf.core.errors import OptionError


def positive(name: str, value: float) -> None:
    """A finite number above 0."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise OptionError(f"{name} must be a positive number, got {value}")


def non_negative(name: str, value: float) -> None:
    """A finite number of at least 0."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise OptionError(f"{name} must be a finite number ≥ 0, got {value}")


def at_least(name: str, value: int, low: int) -> None:
    """An integer of at least ``low``."""
    if not (isinstance(value, int) and value >= low):
        raise OptionError(f"{name} must be an integer ≥ {low}, got {value}")


def in_range(name: str, value: float, low: float, high: float) -> None:
    """A finite number in ``[low, high]``."""
    if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
        raise OptionError(f"{name} must be in [{low}, {high}], got {value}")


def one_of(name: str, value: object, choices: tuple[object, ...]) -> None:
    if value not in choices:
        shown = ", ".join(str(c) for c in choices)
        raise OptionError(f"{name} must be one of {shown}; got {value!r}")
