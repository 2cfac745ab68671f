"""Cloud Vision's image features, offline: ``decaf.annotate(picture)`` and :class:`Annotator`.

Labels, objects, faces, text, document text, image properties, crop hints and safe search, as
dicts shaped like Cloud Vision's ``AnnotateImageResponse``, from built-in offline models or the
user's own classifier and detector bundles. ``schema`` holds Cloud Vision's names and numbers.
"""

from decaf.annotate.annotator import Annotator, annotate
from decaf.annotate.schema import ALIASES, SUPPORTED, Feature, ImageContext

__all__ = ["ALIASES", "SUPPORTED", "Annotator", "Feature", "ImageContext", "annotate"]
