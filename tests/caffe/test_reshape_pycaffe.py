"""How Caffe code drives a net: reshapes per picture, automatic loss tops, pycaffe's Net surface,
``lr_mult: 0`` (nets written here, built the way BVLC and py-faster-rcnn write theirs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from decaf import caffe
from decaf.caffe.layers import CaffeLayerError

# CaffeNet made fully convolutional (the net-surgery notebook's fc6-conv/fc8-conv), narrow
FCN = """
name: "CaffeNetConv"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 451 dim: 451 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 11 stride: 4 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "conv2" type: "Convolution" bottom: "norm1" top: "conv2"
  convolution_param { num_output: 8 pad: 2 kernel_size: 5 group: 2
    weight_filler { type: "xavier" } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv5" type: "Convolution" bottom: "pool2" top: "conv5"
  convolution_param { num_output: 8 pad: 1 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "pool5" type: "Pooling" bottom: "conv5" top: "pool5"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc6-conv" type: "Convolution" bottom: "pool5" top: "fc6-conv"
  convolution_param { num_output: 16 kernel_size: 6 weight_filler { type: "xavier" } } }
layer { name: "relu6" type: "ReLU" bottom: "fc6-conv" top: "fc6-conv" }
layer { name: "fc8-conv" type: "Convolution" bottom: "fc6-conv" top: "fc8-conv"
  convolution_param { num_output: 5 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "gap" type: "Pooling" bottom: "fc8-conv" top: "gap"
  pooling_param { pool: AVE global_pooling: true } }
layer { name: "prob" type: "Softmax" bottom: "fc8-conv" top: "prob" }
"""

# a Fast R-CNN test net's shape: features, RoI pooling over a variable number of boxes, fc heads
ROI = """
name: "FastRCNNish"
input: "data"
input_shape { dim: 1 dim: 3 dim: 224 dim: 224 }
input: "rois"
input_shape { dim: 1 dim: 5 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 stride: 2
    weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "roi_pool" type: "ROIPooling" bottom: "pool1" bottom: "rois" top: "pool5"
  roi_pooling_param { pooled_w: 3 pooled_h: 3 spatial_scale: 0.25 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool5" top: "fc6"
  inner_product_param { num_output: 8 weight_filler { type: "xavier" } } }
layer { name: "cls_score" type: "InnerProduct" bottom: "fc6" top: "cls_score"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "cls_prob" type: "Softmax" bottom: "cls_score" top: "cls_prob" }
"""

# BVLC's PASCAL fine-tuning net style: the loss layer has no top
NO_TOP = """
name: "no_top"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 4 dim: 3 dim: 6 dim: 6 } shape { dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  param { lr_mult: 0 decay_mult: 0 } param { lr_mult: 0 decay_mult: 0 }
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc" type: "InnerProduct" bottom: "conv1" top: "fc"
  param { lr_mult: 1 } param { lr_mult: 2 }
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" }
layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "acc"
  include { phase: TEST } }
"""


# the same net for deploy: one input, a softmax top, gradients to the input (force_backward)
FORCED = (
    """
name: "deploy"
force_backward: true
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 4 dim: 3 dim: 6 dim: 6 } } }
"""
    + NO_TOP[NO_TOP.index('layer { name: "conv1"') : NO_TOP.index('layer { name: "loss"')]
    + ('layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }\n')
)


def _net(tmp_path: Path, text: str, *args: object, name: str = "net.prototxt") -> caffe.Net:
    proto = tmp_path / name
    proto.write_text(text)
    return caffe.Net(str(proto), *args)


def _at_size(tmp_path: Path, text: str, weights: Path, hw: tuple[int, int]) -> caffe.Net:
    """The same net declared at another input size: the reference a reshape must match."""
    sized = text.replace("dim: 451 dim: 451", f"dim: {hw[0]} dim: {hw[1]}")
    return _net(tmp_path, sized, str(weights), caffe.TEST, name=f"at_{hw[0]}x{hw[1]}.prototxt")


@pytest.mark.parametrize("hw", [(227, 227), (375, 500), (451, 451)])
def test_reshaping_the_input_blob_reshapes_the_net(tmp_path: Path, hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = _net(tmp_path, FCN, caffe.TEST)
    weights = tmp_path / "w.caffemodel"
    net.save(weights)
    x = np.random.default_rng(1).uniform(-50, 50, (1, 3, *hw)).astype(np.float32)
    net.blobs["data"].reshape(1, 3, *hw)  # pycaffe's per-picture idiom
    net.blobs["data"].data[...] = x
    out = net.forward()
    ref = _at_size(tmp_path, FCN, weights, hw)
    ref.blobs["data"].data[...] = x
    expected = ref.forward()
    assert out["prob"].shape == expected["prob"].shape
    assert np.isfinite(out["prob"]).all()
    np.testing.assert_allclose(out["prob"], expected["prob"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["gap"], expected["gap"], rtol=1e-5, atol=1e-6)


def test_net_reshape_gives_every_blob_its_shape_before_a_forward(tmp_path: Path) -> None:
    net = _net(tmp_path, FCN, caffe.TEST)
    assert net.blobs["prob"].data.shape == (1, 5, 8, 8)  # every blob exists from construction
    net.blobs["data"].reshape(2, 3, 375, 500)
    net.reshape()
    assert net.blobs["pool1"].data.shape == (2, 8, 46, 61)
    assert net.blobs["prob"].data.shape == (2, 5, 6, 10)
    assert net.blobs["gap"].data.shape == (2, 5, 1, 1)
    assert net.forward()["prob"].shape == (2, 5, 6, 10)


def test_too_small_a_picture_is_an_error_naming_the_layer(tmp_path: Path) -> None:
    net = _net(tmp_path, FCN, caffe.TEST)
    net.blobs["data"].reshape(1, 3, 60, 60)
    with pytest.raises(CaffeLayerError, match=r"fc6-conv .*pool5 \(1, 8, 1, 1\)"):
        net.forward()
    net.blobs["data"].reshape(1, 3, 20, 20)
    with pytest.raises(CaffeLayerError, match="pool2: a 3×3 window does not fit a 1×1"):
        net.forward()


def test_a_fast_rcnn_style_net_takes_any_picture_and_box_count(tmp_path: Path) -> None:
    net = _net(tmp_path, ROI, caffe.TEST)
    for (h, w), n in (((320, 480), 7), ((600, 800), 2)):
        rois = np.zeros((n, 5), np.float32)
        rois[:, 3:] = (w / 2, h / 2)
        rois[:, 1] = np.arange(n) * 8
        net.blobs["data"].reshape(1, 3, h, w)
        net.blobs["rois"].reshape(n, 5)
        net.blobs["data"].data[...] = np.random.default_rng(n).normal(size=(1, 3, h, w))
        net.blobs["rois"].data[...] = rois
        probs = net.forward()["cls_prob"]
        assert probs.shape == (n, 3)
        np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_a_loss_layer_without_top_gets_caffes_automatic_top(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = _net(tmp_path, NO_TOP, caffe.TRAIN)
    assert "(automatic)" in net.blobs and "(automatic)" not in net.outputs
    assert net.blob_loss_weights["(automatic)"] == 1.0
    assert net.top_names["loss"] == ["(automatic)"]
    net.blobs["data"].data[...] = np.random.default_rng(0).normal(size=(4, 3, 6, 6))
    net.blobs["label"].data[...] = [0, 1, 2, 1]
    net.forward()
    first = float(net.blobs["(automatic)"].data)
    assert first > 0
    net.backward()
    assert np.abs(net.params["fc"][0].diff).sum() > 0  # the loss reached the weights
    for _ in range(30):  # plain SGD from pycaffe: the loss goes down
        net.clear_param_diffs()
        net.forward()
        net.backward()
        for blob in net.params["fc"]:
            blob.data[...] -= 0.5 * blob.diff
    assert float(net.blobs["(automatic)"].data) < 0.5 * first
    saved = net.module.to_proto()  # the caffemodel keeps the layer as written
    assert list(next(lp for lp in saved.layer if lp.name == "loss").top) == []


def test_lr_mult_zero_blobs_take_no_gradient_and_backward_stops_above_them(
    tmp_path: Path,
) -> None:
    net = _net(tmp_path, NO_TOP, caffe.TRAIN)
    conv = net.module.layer_by_name("conv1")
    assert not any(b.requires_grad for b in conv.blobs)
    assert all(b.requires_grad for b in net.module.layer_by_name("fc").blobs)
    net.blobs["data"].data[...] = np.random.default_rng(0).normal(size=(4, 3, 6, 6))
    net.forward()
    net.backward()
    assert not net.module.blob_values["conv1"].requires_grad  # nothing below fc learns
    assert np.abs(net.params["conv1"][0].diff).sum() == 0
    assert np.abs(net.blobs["data"].diff).sum() == 0  # no force_backward: no input diff


def test_layers_and_names_match_pycaffe_indexing(tmp_path: Path) -> None:
    net = _net(tmp_path, NO_TOP, caffe.TEST)
    assert net._layer_names[0] == "data" and net.layers[0].type == "Input"
    assert [v.type for v in net.layers] == [
        "Input", "Convolution", "ReLU", "InnerProduct", "SoftmaxWithLoss", "Accuracy",
    ]  # fmt: skip
    assert net.layers[0].blobs == [] and net.layers[1].blobs[0].data.shape == (4, 3, 3, 3)
    assert net.layer_dict["fc"].blobs[1].data.shape == (3,)
    assert net.bottom_names["acc"] == ["fc", "label"]
    assert net._blob_names == ["data", "label", "conv1", "fc", "(automatic)", "acc"]
    assert net._top_ids(0) == [0, 1] and net._bottom_ids(3) == [2]
    assert net.inputs == ["data", "label"] and net.outputs == ["acc"]
    assert str(net.layers[1].phase) == "TEST"


def test_forward_all_and_forward_backward_all_batch_any_length(tmp_path: Path) -> None:
    net = _net(tmp_path, FORCED, caffe.TEST)
    x = np.random.default_rng(2).normal(size=(7, 3, 6, 6)).astype(np.float32)
    out = net.forward_all(data=x)  # 7 items through a net of batch 4
    assert out["prob"].shape == (7, 3)
    one = [net.forward(data=np.repeat(x[i : i + 1], 4, 0))["prob"][0] for i in range(7)]
    np.testing.assert_allclose(out["prob"], np.stack(one), rtol=1e-5, atol=1e-7)
    diffs = np.ones((7, 3), np.float32)
    fwd, bwd = net.forward_backward_all(data=x, prob=diffs)
    assert fwd["prob"].shape == (7, 3) and bwd["data"].shape == (7, 3, 6, 6)
    # softmax's outputs sum to one, so a uniform top diff gives no input gradient
    np.testing.assert_allclose(bwd["data"], 0.0, atol=1e-5)
    onehot = np.zeros((7, 3), np.float32)
    onehot[:, 0] = 1
    _, bwd = net.forward_backward_all(data=x, prob=onehot)
    assert np.abs(bwd["data"]).sum() > 0


def test_share_with_hdf5_weights_and_callbacks(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = _net(tmp_path, FCN, caffe.TEST)
    torch.manual_seed(1)
    b = _net(tmp_path, FCN, caffe.TEST)
    b.share_with(a)
    a.params["conv1"][0].data[...] = 0.25
    assert (b.params["conv1"][0].data == 0.25).all()  # one blob, not a copy
    a.save_hdf5(tmp_path / "w.h5")
    torch.manual_seed(2)
    c = _net(tmp_path, FCN, caffe.TEST)
    c.copy_from(tmp_path / "w.h5")
    for name, blobs in a.params.items():
        for x, y in zip(blobs, c.params[name], strict=True):
            np.testing.assert_array_equal(x.data, y.data)
    seen: list[int] = []
    c.before_forward(seen.append)
    c.forward()
    assert seen[0] == 1 and seen[-1] == len(c.layers) - 1  # indices as pycaffe counts them
    assert c._forward(0, len(c.layers) - 1) == 0.0  # no loss layer


def test_io_helpers_and_the_classifier_follow_pycaffe(tmp_path: Path) -> None:
    from decaf.caffe import io as cio

    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    datum = cio.array_to_datum(arr, label=3)
    assert datum.label == 3 and np.array_equal(cio.datum_to_array(datum), arr)
    floats = cio.datum_to_array(cio.array_to_datum(arr.astype(np.float32) / 7))
    np.testing.assert_allclose(floats, arr / 7, rtol=1e-6)
    im = np.random.default_rng(0).random((8, 10, 3)).astype(np.float32)
    crops = cio.oversample([im], (4, 6))
    assert crops.shape == (10, 4, 6, 3)
    np.testing.assert_array_equal(crops[3], im[4:8, 4:10])  # bottom-right corner
    np.testing.assert_array_equal(crops[4], im[2:6, 2:8])  # centre
    np.testing.assert_array_equal(crops[9], im[2:6, 2:8][:, ::-1])  # its mirror
    assert cio.resize_image(im, (16, 20)).shape == (16, 20, 3)
    proto = tmp_path / "deploy.prototxt"
    proto.write_text(FORCED)
    torch.manual_seed(0)
    weights = tmp_path / "w.caffemodel"
    caffe.Net(str(proto), caffe.TEST).save(weights)
    clf = caffe.Classifier(str(proto), str(weights), image_dims=(8, 8), raw_scale=255,
                           channel_swap=(2, 1, 0))  # fmt: skip
    pictures = [np.random.default_rng(i).random((12, 9, 3)).astype(np.float32) for i in range(2)]
    probs = clf.predict(pictures)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    flat = [np.full((12, 9, 3), 0.5, np.float32)]  # every crop alike: oversampling changes nothing
    np.testing.assert_allclose(clf.predict(flat), clf.predict(flat, oversample=False), rtol=1e-5)


def test_module_level_calls(tmp_path: Path) -> None:
    assert {"Convolution", "Input", "Data", "Python", "ROIPooling"} <= set(caffe.layer_type_list())
    caffe.set_mode_cpu()
    caffe.set_device(0)
    with pytest.warns(UserWarning, match="CPU"):
        caffe.set_mode_gpu()
    caffe.set_random_seed(3)
    a = _net(tmp_path, FCN, caffe.TEST).params["conv1"][0].data.copy()
    caffe.set_random_seed(3)
    b = _net(tmp_path, FCN, caffe.TEST).params["conv1"][0].data.copy()
    np.testing.assert_array_equal(a, b)
    (tmp_path / "net.prototxt").write_text(NO_TOP)
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt"\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 1\ntype: "SGD"\n'
    )
    assert caffe.AdamSolver(str(tmp_path / "solver.prototxt")).type == "Adam"
    assert caffe.get_solver(str(tmp_path / "solver.prototxt")).type == "SGD"
