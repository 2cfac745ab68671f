"""Photos that ship with scikit-image, by name: the offline pictures for demos, tests and data."""

from __future__ import annotations

from PIL import Image

from decaf.core.errors import ImageError
from decaf.core.images import load_image

BUILTIN_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "motorcycle")


def builtin_photo(name: str) -> Image.Image:
    """``skimage.data.<name>()`` as an RGB picture (``motorcycle`` is the stereo pair's left)."""
    if name not in BUILTIN_PHOTOS:
        raise ImageError(f"{name}: not a built-in photo ({', '.join(BUILTIN_PHOTOS)})")
    import skimage.data

    arr = (
        skimage.data.stereo_motorcycle()[0]
        if name == "motorcycle"
        else getattr(skimage.data, name)()
    )
    return load_image(arr, name=f"skimage.data.{name}")
