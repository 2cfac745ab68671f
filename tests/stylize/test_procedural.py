"""Built-in styles render, are seeded and look like what they are named for."""

from __future__ import annotations

import numpy as np
import pytest

from decaf.core.errors import OptionError
from decaf.stylize.procedural import BUILTIN_STYLES, builtin_style


@pytest.mark.parametrize("name", sorted(BUILTIN_STYLES))
def test_styles_render_deterministically(name):
    a = np.asarray(builtin_style(name, size=96, seed=1))
    assert a.shape == (96, 96, 3) and a.dtype == np.uint8
    assert np.array_equal(a, np.asarray(builtin_style(name, size=96, seed=1)))
    assert not np.array_equal(a, np.asarray(builtin_style(name, size=96, seed=2)))
    assert a.std() > 20  # has strokes and contrast, not a flat colour


def test_hatching_is_ink_on_paper_and_mosaic_has_grout():
    hatch = np.asarray(builtin_style("hatching", size=128)).astype(float) / 255
    sat = hatch.max(-1) - hatch.min(-1)
    assert sat.mean() < 0.15  # nearly monochrome
    mosaic = np.asarray(builtin_style("mosaic", size=128)).astype(float) / 255
    assert (mosaic.max(-1) < 0.2).mean() > 0.05  # dark grout lines


def test_unknown_style():
    with pytest.raises(OptionError, match="built-in styles"):
        builtin_style("cubism")
