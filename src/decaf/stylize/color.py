"""Colour preservation: both methods of Gatys, Bethge, Hertzmann & Shechtman 2016.

arXiv 1606.05897.

1. **Colour histogram matching** (:func:`match_color`): before the transfer, the style image's
   pixels are moved by an affine map x' = A·x + b so that their mean and covariance equal the
   content's; A = Σc^½ Σs^−½ (the symmetric "image analogies" square root), b = μc − A·μs. The
   style then brings its strokes and texture but the content's palette.
2. **Luminance-only transfer** (:func:`luminance_only`, :func:`recombine_luminance`): the
   transfer runs on the Y channel of YIQ only, with the style luminance first matched to the
   content's mean and standard deviation, L' = (σc/σs)(Ls − μs) + μc; the result's Y is then
   put back together with the content's I and Q channels.

Arrays are float64 H×W×3 in [0, 1]; the luminance helpers keep 3 channels (Y, Y, Y) so the
same loss network sees them.
"""

from __future__ import annotations

import numpy as np

# NTSC YIQ (FCC 1953 coefficients); the inverse is computed so the round trip is exact.
_RGB2YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.59590059, -0.27455667, -0.32134392],
        [0.21153661, -0.52273617, 0.31119955],
    ]
)
_YIQ2RGB = np.linalg.inv(_RGB2YIQ)


def rgb_to_yiq(rgb: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] → YIQ (Y in [0, 1])."""
    return rgb @ _RGB2YIQ.T


def yiq_to_rgb(yiq: np.ndarray) -> np.ndarray:
    """YIQ → RGB (not clipped)."""
    return yiq @ _YIQ2RGB.T


def _sym_power(cov: np.ndarray, power: float, eps: float = 1e-8) -> np.ndarray:
    """Σ^power for a symmetric positive semi-definite matrix, through its eigen-decomposition."""
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals, eps, None)
    return (vecs * vals**power) @ vecs.T


def color_transfer_params(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) so that A·x + b gives ``source``'s pixels the mean and covariance of ``target``."""
    s = source.reshape(-1, 3).astype(np.float64)
    t = target.reshape(-1, 3).astype(np.float64)
    mu_s, mu_t = s.mean(0), t.mean(0)
    cov_s = np.cov(s, rowvar=False, bias=True) + 1e-6 * np.eye(3)
    cov_t = np.cov(t, rowvar=False, bias=True) + 1e-6 * np.eye(3)
    a = _sym_power(cov_t, 0.5) @ _sym_power(cov_s, -0.5)
    b = mu_t - a @ mu_s
    return a, b


def match_color(style: np.ndarray, content: np.ndarray, *, clip: bool = True) -> np.ndarray:
    """Method 1: the style image with the content's colour mean and covariance.

    With ``clip=False`` the result is the exact affine map (its statistics match the content's
    up to the regulariser, ~1e-6); clipping to [0, 1] for display changes them slightly when
    the map pushes pixels out of range.
    """
    a, b = color_transfer_params(style, content)
    out = style.reshape(-1, 3) @ a.T + b
    out = out.reshape(style.shape)
    return np.clip(out, 0.0, 1.0) if clip else out


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """L' = (σc/σs)(Ls − μs) + μc: the style luminance with the content's mean and spread."""
    sd_s = max(float(style_y.std()), 1e-8)
    return (float(content_y.std()) / sd_s) * (style_y - style_y.mean()) + content_y.mean()


def luminance_only(content: np.ndarray, style: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Method 2, first half: grey (Y, Y, Y) versions of content and of the matched style."""
    cy = rgb_to_yiq(content)[..., 0]
    sy = match_luminance(rgb_to_yiq(style)[..., 0], cy)
    return np.repeat(cy[..., None], 3, -1), np.repeat(np.clip(sy, 0, 1)[..., None], 3, -1)


def recombine_luminance(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Method 2, second half: the result's luminance with the content's I and Q channels.

    ``result`` may be the grey optimisation output (its Y is read back from RGB) and must have
    the content's height and width.
    """
    y = rgb_to_yiq(result)[..., 0]
    yiq = rgb_to_yiq(content)
    yiq[..., 0] = y
    return np.clip(yiq_to_rgb(yiq), 0.0, 1.0)
