"""Every option dataclass checks itself on construction: Python callers get the CLI's errors,
before any network loads, and contradictory options are refused rather than ignored."""

from __future__ import annotations

import pytest

from decaf.classify.train import FinetuneOptions
from decaf.core.errors import OptionError
from decaf.stylize.files import check_options
from decaf.stylize.optimize import StyleOptions
from decaf.stylize.train import FastOptions

NAN = float("nan")


@pytest.mark.parametrize(("cls", "bad", "match"), [
    (FinetuneOptions, {"epochs": -1}, "--epochs must be a positive"),
    (FinetuneOptions, {"base_lr": NAN}, "--base-lr must be a positive"),
    (FinetuneOptions, {"epochs": 1, "iters": 5}, "not both"),
    (FinetuneOptions, {"batch": 0}, "--batch must be an integer ≥ 1"),
    (FinetuneOptions, {"label_smoothing": 1.5}, "label smoothing"),
    (FinetuneOptions, {"device": "tpu"}, "unknown device"),
    (FastOptions, {"lr": NAN}, "lr must be a positive"),
    (FastOptions, {"style_weight": -1.0}, "style_weight must be a finite number"),
    (FastOptions, {"method": "warp"}, "unknown method"),
    (StyleOptions, {"size": 0}, "size must be in 32..4096"),
    (StyleOptions, {"tv_weight": NAN}, "tv_weight must be a finite number"),
    (StyleOptions, {"device": "gpu0"}, "unknown device"),
    (StyleOptions, {"steps": 0}, "steps are all 0"),
    (StyleOptions, {"steps": [0, 0], "scales": [128, 256], "size": 256}, "steps are all 0"),
])  # fmt: skip
def test_bad_values_are_refused_on_construction(cls: type, bad: dict, match: str) -> None:
    with pytest.raises(OptionError, match=match):
        cls(**bad)


def test_style_blend_weights_that_are_not_numbers_are_refused() -> None:
    with pytest.raises(OptionError, match="non-negative numbers"):
        StyleOptions(style_weights=[NAN, 1.0]).validate_blend(2)


def test_options_foreign_to_the_method_are_refused() -> None:
    with pytest.raises(OptionError, match="--alpha, --tile do.* not apply to --method gatys"):
        check_options("gatys", {"alpha": 0.5, "tile": 512})
    with pytest.raises(OptionError, match="--loss, --steps do.* not apply to --method fast"):
        check_options("fast", {"loss": "gram", "steps": 10})
    with pytest.raises(OptionError, match="--alpha do.* not apply to --method fast"):
        check_options("fast", {"alpha": 0.5})
    check_options("adain", {"alpha": 0.5, "size": 256, "device": "cpu"})
    check_options("gatys", {"steps": 10, "size": 256, "device": "cpu"})
