"""Image classification: ImageNet out of the box, fine-tuning on your own classes.

The task's face: :mod:`~decaf.classify.model` (build, bundle), :mod:`~decaf.classify.finetune`
(:class:`FinetuneOptions`, :func:`finetune`) and :mod:`~decaf.classify.predict` (the
thread-safe :class:`Classifier`, evaluation).
"""

from decaf.classify.finetune import FinetuneOptions, finetune
from decaf.classify.predict import Classification, Classifier, Prediction, evaluate

__all__ = ["Classification", "Classifier", "FinetuneOptions", "Prediction", "evaluate",
           "finetune"]  # fmt: skip
