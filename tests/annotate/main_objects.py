"""Main-object boxes of offline photos, written down by hand (x1, y1, x2, y2 in pixels).

Used by tests/annotate/test_objects.py and benchmarks/annotate.py to measure out-of-the-box
object localisation (a hit is IoU ≥ 0.5 with the box of the best object reported).
Photos come from skimage.data and sklearn's sample images, so nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

#: name → (loader expression, box, what the box holds)
BOXES: dict[str, tuple[tuple[float, float, float, float], str]] = {
    "chelsea": ((0, 0, 430, 300), "the cat (it fills the frame)"),
    "coffee": ((75, 15, 480, 390), "the espresso cup on its saucer"),
    "rocket": ((300, 125, 345, 410), "the rocket, without the towers"),
    "motorcycle": ((95, 95, 685, 450), "the motorcycle"),
    "flower": ((168, 85, 448, 360), "the large dahlia"),
    "camera": ((228, 138, 410, 512), "the camera on its tripod"),
}


def photo(name: str) -> np.ndarray:
    """The RGB photo called ``name`` in :data:`BOXES`."""
    import skimage.data as d

    if name == "motorcycle":
        return d.stereo_motorcycle()[0]
    if name == "flower":
        from sklearn.datasets import load_sample_images

        return load_sample_images().images[1]
    if name == "camera":
        return np.stack([d.camera()] * 3, -1)
    return getattr(d, name)()
