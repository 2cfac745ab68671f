"""Caffe without Caffe: ``from decaf import caffe`` gives the pycaffe API on PyTorch.

``caffe.Net(prototxt, weights, caffe.TEST)``, ``caffe.io.Transformer``,
``caffe.io.blobproto_to_array``, ``caffe.io.load_image``, ``caffe.TRAIN``/``caffe.TEST``. The
pieces underneath: :mod:`decaf.caffe.io` (formats), :mod:`decaf.caffe.layers` (Caffe semantics),
:mod:`decaf.caffe.net` (the graph builder).
"""

from decaf.caffe import io
from decaf.caffe.net import TEST, TRAIN, CaffeNet
from decaf.caffe.pycaffe import (
    AdaDeltaSolver,
    AdaGradSolver,
    AdamSolver,
    Blob,
    Classifier,
    NesterovSolver,
    Net,
    RMSPropSolver,
    SGDSolver,
    layer_type_list,
    set_device,
    set_mode_cpu,
    set_mode_gpu,
    set_random_seed,
)
from decaf.caffe.python_layer import Layer
from decaf.caffe.solver import Solver, get_solver

__all__ = [
    "TEST",
    "TRAIN",
    "AdaDeltaSolver",
    "AdaGradSolver",
    "AdamSolver",
    "NesterovSolver",
    "RMSPropSolver",
    "SGDSolver",
    "layer_type_list",
    "set_device",
    "set_mode_cpu",
    "set_mode_gpu",
    "set_random_seed",
    "Blob",
    "CaffeNet",
    "Classifier",
    "Layer",
    "Net",
    "Solver",
    "get_solver",
    "io",
]
