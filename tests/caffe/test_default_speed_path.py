"""The default inference path: BatchNorm/Scale folded by itself, and never stale; nets built
from a caffemodel fill only what it lacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from decaf import caffe
from decaf.caffe import io as cio
from decaf.caffe.net import TRAIN, CaffeNet

BN_NET = """
name: "bn"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 2 dim: 3 dim: 16 dim: 16 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 bias_term: false
    weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pool"
  pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc"
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.5 } } }
"""


def _weights(tmp_path: Path, seed: int) -> Path:
    """A caffemodel with visible BatchNorm statistics and Scale parameters."""
    torch.manual_seed(seed)
    net = CaffeNet(cio.read_net(BN_NET))
    with torch.no_grad():
        bn = net.layer_by_name("bn1")
        bn.blobs[0].copy_(torch.randn(6) * 4)  # sums, with a scale factor of 2
        bn.blobs[1].copy_(torch.rand(6) * 6 + 0.5)
        bn.blobs[2].fill_(2.0)
        sc = net.layer_by_name("scale1")
        sc.blobs[0].copy_(torch.rand(6) + 0.5)
        sc.blobs[1].copy_(torch.randn(6))
    path = tmp_path / f"w{seed}.caffemodel"
    net.save(path)
    return path


def _plain(proto: Path, weights: Path, x: np.ndarray) -> np.ndarray:
    net = CaffeNet(cio.read_net(proto), weights=weights).eval()
    with torch.no_grad():
        return net(data=torch.from_numpy(x))["fc"].numpy()


def test_pycaffe_folds_batchnorm_by_itself_and_matches_the_plain_graph(tmp_path: Path) -> None:
    proto = tmp_path / "bn.prototxt"
    proto.write_text(BN_NET)
    w = _weights(tmp_path, 0)
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
    net = caffe.Net(str(proto), str(w), caffe.TEST)
    out = net.forward(data=x)["fc"]
    assert net.module._auto[2] is not None  # the folded plan ran
    np.testing.assert_allclose(out, _plain(proto, w, x), rtol=1e-4, atol=1e-5)


def test_the_folded_plan_follows_copy_from_and_numpy_edits(tmp_path: Path) -> None:
    proto = tmp_path / "bn.prototxt"
    proto.write_text(BN_NET)
    w0, w1 = _weights(tmp_path, 0), _weights(tmp_path, 1)
    x = np.random.default_rng(1).normal(size=(2, 3, 16, 16)).astype(np.float32)
    net = caffe.Net(str(proto), str(w0), caffe.TEST)
    net.forward(data=x)
    net.copy_from(str(w1))  # new weights through torch: the plan is rebuilt
    np.testing.assert_allclose(net.forward(data=x)["fc"], _plain(proto, w1, x), rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    net.params["scale1"][0].data[...] *= 3  # a numpy write torch cannot see
    edited = net.forward(data=x)["fc"]
    reference = CaffeNet(cio.read_net(proto), weights=w1).eval()
    with torch.no_grad():
        reference.layer_by_name("scale1").blobs[0].mul_(3)
        expected = reference(data=torch.from_numpy(x))["fc"].numpy()
    np.testing.assert_allclose(edited, expected, rtol=1e-4, atol=1e-5)


def test_weights_given_at_build_fill_only_the_layers_they_lack(tmp_path: Path) -> None:
    w = _weights(tmp_path, 0)
    renamed = BN_NET.replace('name: "fc" type', 'name: "fc_new" type')  # Caffe's fine-tune idiom
    torch.manual_seed(5)
    net = CaffeNet(cio.read_net(renamed), weights=w)
    full = CaffeNet(cio.read_net(BN_NET), weights=w)
    np.testing.assert_array_equal(net.layer_by_name("conv1").blobs[0].detach(),
                                  full.layer_by_name("conv1").blobs[0].detach())  # fmt: skip
    fresh = net.layer_by_name("fc_new").blobs[0].detach()
    assert 0.3 < float(fresh.std()) < 0.7  # its gaussian filler (std 0.5), not zeros
    assert not torch.equal(fresh, full.layer_by_name("fc").blobs[0].detach())


def test_building_a_train_net_leaves_batchnorm_statistics_at_zero() -> None:
    net = CaffeNet(cio.read_net(BN_NET), phase=TRAIN)
    assert all(float(b.detach().abs().sum()) == 0 for b in net.layer_by_name("bn1").blobs)
