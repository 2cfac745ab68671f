"""Object detection: Faster R-CNN (± OHEM), Fast R-CNN on given proposals, Mask R-CNN.

The task's face: :mod:`~decaf.detect.model` (build, bundle config), :mod:`~decaf.detect.train`
(:class:`DetectorOptions`, :func:`train_detector`), :mod:`~decaf.detect.predict` (the
thread-safe :class:`Detector`), :mod:`~decaf.detect.evaluate` (VOC/COCO AP) and
:mod:`~decaf.detect.draw`.
"""

from decaf.detect.predict import DetectedObject, Detections, Detector
from decaf.detect.train import DetectorOptions, train_detector

__all__ = ["DetectedObject", "Detections", "Detector", "DetectorOptions", "train_detector"]
