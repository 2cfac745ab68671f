"""decaf: pretrained convolutional networks as working tools.

``decaf.stylize(content, style, **options)`` is the main job; see ``decaf --help`` for the CLI.
"""

from decaf import stylize
from decaf.core.errors import DecafError, ImageError, OptionError, WeightsError
from decaf.core.images import load_image, save_image

__version__ = "0.1.0"
__all__ = [
    "DecafError",
    "ImageError",
    "OptionError",
    "WeightsError",
    "load_image",
    "save_image",
    "stylize",
]
