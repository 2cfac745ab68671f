"""Real paintings and photos from ../shared (skipped when it is absent)."""

from __future__ import annotations

import decaf
from decaf.core.images import load_image


def test_real_paintings_load_and_stylize(shared_data):
    paintings = sorted((shared_data / "paintings").glob("*.jpg"))
    assert paintings, "no paintings in ../shared/data/paintings"
    for path in paintings:
        img = load_image(path)
        assert img.mode == "RGB" and min(img.size) > 100
    photo = shared_data / "photos" / "tubingen.jpg"
    out = decaf.stylize(photo, [paintings[0], "swirl"], size=64, steps=3)
    w, h = load_image(photo).size
    assert max(out.size) == 64 and abs(out.size[0] / out.size[1] - w / h) < 0.05
