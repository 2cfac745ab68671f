"""Built-in style images, drawn by code.

No package decaf can depend on ships public-domain paintings, so the default styles are
generated: each is a small, seeded painter working with numpy/scipy. They are designed to have
what a loss network recognises as style: strong, coherent strokes at more than one scale and a
limited palette.

- ``swirl``: flowing brush strokes along a field of vortices, night blues and golds.
- ``mosaic``: Voronoi tiles with dark grout, glazed terracotta, teal and gold.
- ``pointillism``: dense dabs of pure, complementary colours over a soft colour field.
- ``hatching``: pen-and-ink cross-hatching whose density follows a tonal field, on paper.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

from decaf.core.errors import OptionError


def _smooth_noise(rng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Gaussian-blurred white noise rescaled to [0, 1]."""
    n = ndimage.gaussian_filter(rng.standard_normal((h, w)), sigma, mode="wrap")
    n -= n.min()
    return n / max(float(n.max()), 1e-8)


def _palette_lookup(t: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] onto a piecewise-linear colour ramp (K×3, values in [0, 1])."""
    xs = np.linspace(0.0, 1.0, len(palette))
    return np.stack([np.interp(t, xs, palette[:, c]) for c in range(3)], axis=-1)


def _rgb(*hexes: str) -> np.ndarray:
    return np.array([[int(h[i : i + 2], 16) / 255.0 for i in (1, 3, 5)] for h in hexes])


def swirl(size: int = 512, seed: int = 0) -> np.ndarray:
    """Flowing brush strokes: coloured dabs smeared along streamlines of random vortices."""
    rng = np.random.default_rng(seed)
    h = w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # velocity field: a sum of vortices plus a gentle drift
    vx = np.full((h, w), 0.3)
    vy = np.full((h, w), 0.1)
    for _ in range(7):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.12, 0.3) * size
        s = rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.6)
        dx, dy = xx - cx, yy - cy
        fall = np.exp(-(dx**2 + dy**2) / (2 * r**2))
        vx += s * (-dy / r) * fall
        vy += s * (dx / r) * fall
    norm = np.sqrt(vx**2 + vy**2) + 1e-8
    vx, vy = vx / norm, vy / norm
    # paint: a tonal field in a night palette, broken into stroke-sized dabs
    palette = _rgb("#0b1a3d", "#1d3f8a", "#3a6fc4", "#7fb0d9", "#e8d77a", "#f5b83d")
    tone = 0.65 * _smooth_noise(rng, h, w, size / 10) + 0.35 * _smooth_noise(rng, h, w, size / 40)
    dabs = rng.uniform(-0.22, 0.22, (h // 4 + 1, w // 4 + 1))
    dabs = np.kron(dabs, np.ones((4, 4)))[:h, :w]
    paint = _palette_lookup(np.clip(tone + dabs, 0, 1), palette)
    # line-integral convolution: average colours along each pixel's streamline
    acc = paint.copy()
    for direction in (1.0, -1.0):
        px, py = xx.copy(), yy.copy()
        for _ in range(max(6, size // 40)):
            ix = np.clip(px, 0, w - 1).astype(int)
            iy = np.clip(py, 0, h - 1).astype(int)
            px += direction * vx[iy, ix] * 1.5
            py += direction * vy[iy, ix] * 1.5
            coords = [np.mod(py, h), np.mod(px, w)]
            for c in range(3):
                acc[..., c] += ndimage.map_coordinates(paint[..., c], coords, order=1, mode="wrap")
    out = acc / (1 + 2 * max(6, size // 40))
    # stroke edges: darken where neighbouring strokes differ, like paint ridges
    edge = ndimage.gaussian_gradient_magnitude(out.mean(-1), 1.0)
    out *= 1.0 - np.clip(edge * 4.0, 0, 0.35)[..., None]
    return np.clip(out * 1.08, 0, 1)


def mosaic(size: int = 512, seed: int = 0) -> np.ndarray:
    """Glazed tiles on a jittered grid with dark grout lines."""
    rng = np.random.default_rng(seed)
    h = w = size
    cell = max(8, size // 22)
    gy, gx = np.mgrid[cell / 2 : h : cell, cell / 2 : w : cell]
    pts = np.stack([gy.ravel(), gx.ravel()], 1) + rng.uniform(-0.35, 0.35, (gy.size, 2)) * cell
    tree = cKDTree(pts)
    yy, xx = np.mgrid[0:h, 0:w]
    dist, idx = tree.query(np.stack([yy.ravel(), xx.ravel()], 1), k=2)
    palette = _rgb("#b5452b", "#d98a3d", "#e6c35c", "#2e7d7a", "#1f4e6b", "#e9dfc8")
    region = _smooth_noise(rng, h, w, size / 6)
    tile_tone = region[pts[:, 0].astype(int).clip(0, h - 1), pts[:, 1].astype(int).clip(0, w - 1)]
    tile_tone = np.clip(tile_tone + rng.normal(0, 0.12, len(pts)), 0, 1)
    tile_rgb = _palette_lookup(tile_tone, palette) * rng.uniform(0.85, 1.1, (len(pts), 1))
    img = tile_rgb[idx[:, 0]].reshape(h, w, 3)
    # glaze: a little shading inside every tile
    shade = 1.0 - 0.18 * (dist[:, 0] / cell).reshape(h, w)
    img = img * shade[..., None]
    grout = ((dist[:, 1] - dist[:, 0]) < cell * 0.12).reshape(h, w)
    img[grout] = (0.16, 0.13, 0.11)
    return np.clip(img, 0, 1)


def pointillism(size: int = 512, seed: int = 0) -> np.ndarray:
    """Round dabs of pure colour, complementary pairs side by side, on a light canvas."""
    rng = np.random.default_rng(seed)
    h = w = size
    canvas = np.full((h, w, 3), (0.95, 0.92, 0.84))
    palette = _rgb("#1b4fa0", "#2e9e5b", "#f2d43a", "#e8702a", "#c2304a", "#7b4fb8", "#62c3e0")
    field = _smooth_noise(rng, h, w, size / 8)
    radius = max(2.0, size / 110)
    n = int(h * w / (radius**2) * 0.55)
    pts = rng.uniform(0, [h, w], (n, 2))
    base = field[pts[:, 0].astype(int), pts[:, 1].astype(int)]
    # each dab takes the local hue or, one time in three, a hue across the palette from it
    jump = rng.random(n) < 0.33
    tone = np.where(jump, (base + 0.5) % 1.0, base) + rng.normal(0, 0.06, n)
    colors = _palette_lookup(np.clip(tone, 0, 1), palette)
    radii = radius * rng.uniform(0.8, 1.3, n)
    tree = cKDTree(pts)
    yy, xx = np.mgrid[0:h, 0:w]
    dist, idx = tree.query(np.stack([yy.ravel(), xx.ravel()], 1), k=1)
    inside = dist < radii[idx]
    img = canvas.reshape(-1, 3).copy()
    img[inside] = colors[idx[inside]]
    return img.reshape(h, w, 3)


def hatching(size: int = 512, seed: int = 0) -> np.ndarray:
    """Pen-and-ink cross-hatching: more crossing line sets where the tonal field is darker."""
    rng = np.random.default_rng(seed)
    h = w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    tone = _smooth_noise(rng, h, w, size / 7)  # 0 = light, 1 = dark
    wobble = (_smooth_noise(rng, h, w, size / 30) - 0.5) * size / 25
    period = max(5.0, size / 60)
    ink = np.zeros((h, w))
    for k, angle in enumerate((0.6, -0.7, 1.5, 0.05)):
        u = xx * np.cos(angle) + yy * np.sin(angle) + wobble
        line = np.abs(((u / period) % 1.0) - 0.5) < 0.16
        ink = np.maximum(ink, line & (tone > 0.22 + 0.17 * k))
    paper = np.array([0.96, 0.93, 0.86])
    ink_color = np.array([0.14, 0.11, 0.10])
    ink = ndimage.gaussian_filter(ink.astype(np.float64), 0.6)
    return paper * (1 - ink[..., None]) + ink_color * ink[..., None]


BUILTIN_STYLES: dict[str, Callable[[int, int], np.ndarray]] = {
    "swirl": swirl,
    "mosaic": mosaic,
    "pointillism": pointillism,
    "hatching": hatching,
}


def builtin_style(name: str, size: int = 512, seed: int = 0) -> Image.Image:
    """Render the built-in style ``name`` as a ``size``×``size`` RGB picture."""
    try:
        painter = BUILTIN_STYLES[name]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_STYLES))
        raise OptionError(f"unknown built-in style {name!r}; built-in styles: {known}") from None
    arr = painter(size, seed)
    return Image.fromarray(np.clip(np.round(arr * 255), 0, 255).astype(np.uint8), "RGB")
