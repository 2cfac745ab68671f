"""Image classification: ImageNet out of the box, fine-tuning on your own classes.

The task's face: :mod:`~decaf.classify.model` (build, bundle), :mod:`~decaf.classify.train`
(:class:`FinetuneOptions`, :func:`finetune`) and :mod:`~decaf.classify.predict` (the
thread-safe :class:`Classifier`, evaluation).
"""

from decaf.classify.predict import Classification, Classifier, Prediction, evaluate
from decaf.classify.train import FinetuneOptions, finetune

__all__ = ["Classification", "Classifier", "FinetuneOptions", "Prediction", "evaluate",
           "finetune"]  # fmt: skip
