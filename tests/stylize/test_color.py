"""Colour preservation invariants (Gatys et al. 2016, both methods)."""

from __future__ import annotations

import numpy as np

from decaf.stylize.color import (
    luminance_only,
    match_color,
    match_luminance,
    recombine_luminance,
    rgb_to_yiq,
    yiq_to_rgb,
)


def _picture(seed: int, tint: tuple[float, float, float]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.8, (40, 50, 1)) * np.array(tint)
    return np.clip(base + rng.normal(0, 0.05, (40, 50, 3)), 0, 1)


def test_yiq_round_trip():
    x = _picture(0, (1.0, 0.5, 0.2))
    assert np.allclose(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-12)
    assert np.allclose(rgb_to_yiq(np.ones((1, 1, 3)))[0, 0], (1.0, 0.0, 0.0), atol=1e-6)


def test_histogram_matching_moves_mean_and_covariance():
    style = _picture(1, (0.9, 0.4, 0.1))  # warm
    content = _picture(2, (0.2, 0.5, 1.0))  # cool
    out = match_color(style, content, clip=False).reshape(-1, 3)
    c = content.reshape(-1, 3)
    assert np.allclose(out.mean(0), c.mean(0), atol=1e-3)
    assert np.allclose(
        np.cov(out, rowvar=False, bias=True), np.cov(c, rowvar=False, bias=True), atol=1e-3
    )
    # it is one affine map of the style's own pixels (their layout and texture survive)
    design = np.hstack([style.reshape(-1, 3), np.ones((out.shape[0], 1))])
    _, residual, *_ = np.linalg.lstsq(design, out, rcond=None)
    assert residual.max() < 1e-9


def test_histogram_matching_is_not_a_chroma_swap():
    style = _picture(1, (0.9, 0.4, 0.1))
    content = _picture(2, (0.2, 0.5, 1.0))
    out = match_color(style, content)
    # a chroma swap would copy the content's I/Q per pixel; this is a global affine map instead
    assert not np.allclose(rgb_to_yiq(out)[..., 1:], rgb_to_yiq(content)[..., 1:], atol=0.02)


def test_luminance_matching_formula():
    rng = np.random.default_rng(0)
    ls, lc = rng.uniform(0, 1, 1000), rng.uniform(0.3, 0.6, 1000)
    out = match_luminance(ls, lc)
    assert np.isclose(out.mean(), lc.mean()) and np.isclose(out.std(), lc.std())


def test_luminance_mode_keeps_content_chroma():
    content = _picture(3, (0.3, 0.6, 0.9))
    style = _picture(4, (1.0, 0.3, 0.1))
    grey_c, grey_s = luminance_only(content, style)
    assert np.allclose(grey_c[..., 0], grey_c[..., 1]) and np.allclose(
        grey_s[..., 0], grey_s[..., 2]
    )
    # pretend the network produced some new luminance picture
    result = np.clip(grey_c + np.random.default_rng(5).normal(0, 0.05, grey_c.shape), 0, 1)
    out = recombine_luminance(result, content)
    yiq_out, yiq_c = rgb_to_yiq(out), rgb_to_yiq(content)
    inside = (out > 0.001).all(-1) & (out < 0.999).all(-1)  # pixels not clipped
    assert inside.mean() > 0.9
    assert np.allclose(yiq_out[inside][:, 1:], yiq_c[inside][:, 1:], atol=1e-6)
    assert np.allclose(yiq_out[inside][:, 0], rgb_to_yiq(result)[inside][:, 0], atol=1e-6)
