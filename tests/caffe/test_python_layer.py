"""Python layers: refused by default, then the caffe.Layer contract with a toy loss."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from decaf.caffe import io as cio
from decaf.caffe.layers import CaffeLayerError
from decaf.caffe.net import TRAIN, CaffeNet

MODULE = '''
import caffe
import numpy as np


class HalfSquare(caffe.Layer):
    """loss = Σ (a − b)² / 2 / N, the pycaffe examples' Euclidean loss."""

    def setup(self, bottom, top):
        self.seen_phase = str(self.phase)
        self.scale = float(self.param_str_ or 1)

    def reshape(self, bottom, top):
        self.delta = np.zeros_like(bottom[0].data)
        top[0].reshape(1)

    def forward(self, bottom, top):
        self.delta = bottom[0].data - bottom[1].data
        top[0].data[...] = self.scale * (self.delta ** 2).sum() / 2 / bottom[0].num

    def backward(self, top, propagate_down, bottom):
        for i, sign in enumerate((1, -1)):
            if propagate_down[i]:
                bottom[i].diff[...] = sign * self.scale * self.delta / bottom[i].num * top[0].diff
'''

NET = """
layer { name: "in" type: "Input" top: "a" top: "b" input_param { shape { dim: 4 dim: 3 } } }
layer { name: "ip" type: "InnerProduct" bottom: "a" top: "y"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
layer { name: "loss" type: "Python" bottom: "y" bottom: "b" top: "loss" loss_weight: 1
  python_param { module: "toy_loss_layer" layer: "HalfSquare" param_str: "2" } }
"""


def test_python_layers_are_refused_unless_allowed() -> None:
    with pytest.raises(CaffeLayerError, match="arbitrary code"):
        CaffeNet(cio.read_net(NET))


def test_python_loss_layer_forward_backward(tmp_path: Path) -> None:
    (tmp_path / "toy_loss_layer.py").write_text(MODULE)
    try:
        net = CaffeNet(cio.read_net(NET), phase=TRAIN, base=tmp_path, allow_python=True)
        layer = net.layer_by_name("loss")
        assert layer.impl.seen_phase == "TRAIN" and layer.impl.phase == 0
        a, b = torch.randn(4, 3), torch.randn(4, 3)
        net(a=a, b=b)
        loss = net.loss()
        ip = net.layer_by_name("ip")
        y = a @ ip.blobs[0].detach().t() + ip.blobs[1].detach()
        expect = 2 * ((y - b) ** 2).sum() / 2 / 4
        assert float(loss.detach()) == pytest.approx(float(expect), rel=1e-5)
        loss.backward()
        w = ip.blobs[0].detach().clone().requires_grad_(True)
        (2 * ((a @ w.t() + ip.blobs[1].detach() - b) ** 2).sum() / 2 / 4).backward()
        torch.testing.assert_close(ip.blobs[0].grad, w.grad)
    finally:
        sys.modules.pop("toy_loss_layer", None)


def test_layer_modules_from_a_project_tree_need_python_path(tmp_path: Path) -> None:
    """py-faster-rcnn keeps its layers in lib/: the error says how to reach them, and
    --python-path DIR reaches them without leaving DIR on sys.path."""
    lib = tmp_path / "lib" / "toy_layers"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("")
    (lib / "loss.py").write_text(MODULE)
    net = NET.replace('module: "toy_loss_layer"', 'module: "toy_layers.loss"')
    try:
        with pytest.raises(CaffeLayerError, match=r"toy_layers.loss.*--python-path DIR"):
            CaffeNet(cio.read_net(net), phase=TRAIN, base=tmp_path, allow_python=True)
        built = CaffeNet(cio.read_net(net), phase=TRAIN, base=tmp_path, allow_python=True,
                         python_path=[tmp_path / "lib"])  # fmt: skip
        assert built.layer_by_name("loss").impl.scale == 2.0
        assert str(tmp_path / "lib") not in sys.path  # for the layer modules only
        with pytest.raises(CaffeLayerError, match="not a folder"):
            CaffeNet(cio.read_net(net), allow_python=True, python_path=[tmp_path / "nope"])
    finally:
        for name in ("toy_layers", "toy_layers.loss"):
            sys.modules.pop(name, None)


def test_cli_train_test_time_take_python_path(tmp_path: Path) -> None:
    from decaf.cli import main

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "toy_relu_layer.py").write_text(
        "import caffe\n\n\nclass Relu(caffe.Layer):\n"
        "    def setup(self, bottom, top):\n        pass\n\n"
        "    def reshape(self, bottom, top):\n        top[0].reshape(*bottom[0].data.shape)\n\n"
        "    def forward(self, bottom, top):\n        top[0].data[...] = bottom[0].data.clip(0)\n"
    )
    (tmp_path / "deploy.prototxt").write_text(
        'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } } }\n'
        'layer { name: "r" type: "Python" bottom: "x" top: "y"\n'
        '  python_param { module: "toy_relu_layer" layer: "Relu" } }\n'
    )
    args = ["caffe", "time", "-m", str(tmp_path / "deploy.prototxt"), "--iterations", "1",
            "--allow-python-layers"]  # fmt: skip
    try:
        assert main(args) == 2  # not importable without it
        assert main([*args, "--python-path", str(lib)]) == 0
    finally:
        sys.modules.pop("toy_relu_layer", None)
