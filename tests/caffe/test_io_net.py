"""Formats, net-level semantics and the pycaffe API (tiny nets written here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from decaf import caffe
from decaf.caffe import io as cio
from decaf.caffe.layers import CaffeLayerError
from decaf.caffe.net import CaffeNet, filter_layers
from decaf.caffe.proto import caffe_pb2
from decaf.core.errors import OptionError

TINY = """
name: "tiny"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 4 kernel_size: 3 pad: 1
    weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" include { phase: TRAIN } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""


def test_prototxt_errors_name_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.prototxt"
    bad.write_text('name: "x"\nlayer {\n  name: "a"\n  tpye: "ReLU"\n}\n')
    with pytest.raises(cio.CaffeFormatError, match=r"bad\.prototxt:4:3"):
        cio.read_net(bad)


def test_truncated_caffemodel_is_a_clear_error(tmp_path: Path) -> None:
    net = CaffeNet(cio.read_net(TINY))
    path = net.save(tmp_path / "w.caffemodel")
    data = path.read_bytes()
    (tmp_path / "cut.caffemodel").write_bytes(data[: len(data) // 2])
    with pytest.raises(cio.CaffeFormatError, match="truncated or not a Caffe file"):
        cio.read_weights(tmp_path / "cut.caffemodel")


def test_save_and_copy_from_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    a = CaffeNet(cio.read_net(TINY))
    x = torch.randn(2, 3, 8, 8)
    path = a.save(tmp_path / "w.caffemodel")
    torch.manual_seed(1)
    b = CaffeNet(cio.read_net(TINY))
    assert not torch.equal(a(data=x)["prob"], b(data=x)["prob"])
    assert b.copy_from(path) == ["conv", "fc"]
    torch.testing.assert_close(a(data=x)["prob"], b(data=x)["prob"])
    # the bias filler ran and lr_mult/decay_mult became engine rules
    assert torch.allclose(a.layer_by_name("conv").blobs[1], torch.full((4,), 0.1))
    rules = {r.pattern: (r.lr_mult, r.decay_mult) for r in a.param_rules()}
    assert rules[r"re:^layers\.conv\.blobs\.1$"] == (2.0, 0.0)


def test_pooling_rounds_up_and_phase_rules() -> None:
    net = CaffeNet(cio.read_net(TINY))
    assert net.blob_shapes["pool"] == (2, 4, 4, 4)  # ceil((8-3)/2)+1 = 4 (floor would give 3)
    assert "drop" not in [lp.name for _, lp in net.order]  # include TRAIN only
    train = CaffeNet(cio.read_net(TINY), phase=caffe.TRAIN)
    assert "drop" in [lp.name for _, lp in train.order]
    assert net.outputs == ["prob"]


@pytest.mark.parametrize(
    ("rule", "phase", "level", "stages", "kept"),
    [
        ("include { phase: TRAIN }", 0, 0, [], True),
        ("include { phase: TRAIN }", 1, 0, [], False),
        ("exclude { phase: TEST }", 1, 0, [], False),
        ("include { min_level: 1 }", 0, 0, [], False),
        ("include { min_level: 1 }", 0, 2, [], True),
        ("include { max_level: 1 }", 0, 2, [], False),
        ("include { stage: 'a' stage: 'b' }", 0, 0, ["a"], False),
        ("include { stage: 'a' stage: 'b' }", 0, 0, ["a", "b"], True),
        ("include { not_stage: 'a' }", 0, 0, ["a"], False),
        ("include { phase: TEST } include { stage: 'x' }", 0, 0, ["x"], True),
    ],
)
def test_include_exclude_rule_table(rule, phase, level, stages, kept) -> None:
    text = f'layer {{ name: "l" type: "ReLU" bottom: "a" top: "a" {rule} }}'
    net = cio.read_net(text)
    assert bool(filter_layers(net, phase, level, stages)) is kept


def test_named_params_are_shared_siamese_style() -> None:
    text = """
    layer { name: "in" type: "Input" top: "a" top: "b"
      input_param { shape { dim: 1 dim: 4 } } }
    layer { name: "fa" type: "InnerProduct" bottom: "a" top: "ya" param { name: "w" }
      param { name: "bias" } inner_product_param { num_output: 3
      weight_filler { type: "gaussian" } } }
    layer { name: "fb" type: "InnerProduct" bottom: "b" top: "yb" param { name: "w" }
      param { name: "bias" } inner_product_param { num_output: 3 } }
    """
    net = CaffeNet(cio.read_net(text))
    assert net.layer_by_name("fa").blobs[0] is net.layer_by_name("fb").blobs[0]
    x = torch.randn(1, 4)
    out = net(a=x, b=x)
    torch.testing.assert_close(out["ya"], out["yb"])
    assert len(list(net.parameters())) == 2  # one owner per shared blob


def test_legacy_v1_and_input_dim_upgrade() -> None:
    text = """
    input: "data" input_dim: 1 input_dim: 2 input_dim: 5 input_dim: 5
    layers { name: "c" type: CONVOLUTION bottom: "data" top: "c" blobs_lr: 1 blobs_lr: 2
      weight_decay: 1 weight_decay: 0 convolution_param { num_output: 3 kernel_size: 3 } }
    layers { name: "r" type: RELU bottom: "c" top: "c" }
    """
    net = cio.read_net(text)
    assert [(lp.name, lp.type) for lp in net.layer] == [
        ("input", "Input"), ("c", "Convolution"), ("r", "ReLU")]  # fmt: skip
    assert (net.layer[1].param[1].lr_mult, net.layer[1].param[1].decay_mult) == (2.0, 0.0)
    assert CaffeNet(net).blob_shapes["c"] == (1, 3, 3, 3)


def test_mean_binaryproto_drops_the_num_axis(tmp_path: Path) -> None:
    blob = caffe_pb2.BlobProto(num=1, channels=3, height=2, width=2)
    blob.data.extend(np.arange(12, dtype=np.float32).tolist())
    (tmp_path / "mean.binaryproto").write_bytes(blob.SerializeToString())
    mean = cio.read_mean(tmp_path / "mean.binaryproto")
    assert mean.shape == (3, 2, 2) and mean[2, 1, 1] == 11
    t = caffe.io.Transformer({"data": (1, 3, 2, 2)})
    t.set_mean("data", mean[None])  # the 4-D array pycaffe rejects
    t.set_transpose("data", (2, 0, 1))
    out = t.preprocess("data", np.ones((2, 2, 3), np.float32) * 20)
    np.testing.assert_allclose(out, 20 - mean)


def test_pycaffe_net_blobs_params_forward_backward(tmp_path: Path) -> None:
    proto = tmp_path / "tiny.prototxt"
    proto.write_text(TINY)
    net = caffe.Net(str(proto), caffe.TEST)
    assert net.inputs == ["data"] and net.outputs == ["prob"]
    net.blobs["data"].data[...] = 1.0
    out = net.forward()
    assert out["prob"].shape == (2, 5)
    np.testing.assert_allclose(out["prob"].sum(1), 1.0, rtol=1e-5)
    net.params["fc"][1].data[...] = [0, 0, 50, 0, 0]  # writable views change the model
    assert (net.forward()["prob"].argmax(1) == 2).all()
    with pytest.raises(OptionError, match="force_backward"):
        net.backward()  # a TEST net without a loss and without force_backward


def test_imagedata_dummydata_and_propagate_down(tmp_path: Path) -> None:
    from PIL import Image

    for i, value in enumerate((10, 200)):
        Image.fromarray(np.full((6, 9, 3), (value, 0, 255), np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "list.txt").write_text("0.png 0\n1.png 1\n")
    text = f"""
    layer {{ name: "img" type: "ImageData" top: "data" top: "label"
      transform_param {{ mean_value: 5 scale: 0.5 }}
      image_data_param {{ source: "{tmp_path / "list.txt"}" batch_size: 3 new_height: 4
        new_width: 4 }} }}
    layer {{ name: "noise" type: "DummyData" top: "noise"
      dummy_data_param {{ shape {{ dim: 3 dim: 2 }}
        data_filler {{ type: "constant" value: 7 }} }} }}
    layer {{ name: "ip" type: "InnerProduct" bottom: "noise" top: "ip"
      inner_product_param {{ num_output: 2 weight_filler {{ type: "gaussian" }} }} }}
    layer {{ name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "noise" top: "loss"
      propagate_down: true propagate_down: false }}
    """
    net = CaffeNet(cio.read_net(text), phase=caffe.TRAIN)
    assert net.inputs == [] and net.blob_shapes["data"] == (3, 3, 4, 4)
    net()
    data, label = net.blob_values["data"], net.blob_values["label"]
    assert label.tolist() == [0.0, 1.0, 0.0]  # wraps around the list
    assert data[0, 2, 0, 0].item() == pytest.approx((10 - 5) * 0.5)  # BGR: red is channel 2
    assert data[0, 0, 0, 0].item() == pytest.approx((255 - 5) * 0.5)
    assert torch.equal(net.blob_values["noise"], torch.full((3, 2), 7.0))
    net.loss().backward()
    assert net.layer_by_name("ip").blobs[0].grad is not None


DIALECT = """
syntax = "proto2";
package caffe;
message BlobShape { repeated int64 dim = 1 [packed = true]; }
message InputParameter { repeated BlobShape shape = 1; }
message BNParameter { optional float momentum = 1 [default = 0.9]; }
message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated string bottom = 3;
  repeated string top = 4;
  optional InputParameter input_param = 143;
  optional BNParameter bn_param = 999;
}
message NetParameter {
  optional string name = 1;
  repeated string input = 3;
  repeated int32 input_dim = 4;
  repeated BlobShape input_shape = 8;
  repeated LayerParameter layer = 100;
}
"""


def test_a_user_dialect_parses_its_own_fields(tmp_path: Path) -> None:
    (tmp_path / "mycaffe.proto").write_text(DIALECT)
    pb = cio.load_dialect(tmp_path / "mycaffe.proto")
    text = (
        'input: "x" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3\n'
        'layer { name: "b" type: "BN" bottom: "x" top: "x" bn_param { momentum: 0.5 } }'
    )
    net = cio.read_net(text, pb=pb)
    assert [layer.type for layer in net.layer] == ["Input", "BN"]
    assert net.layer[1].bn_param.momentum == 0.5
    with pytest.raises(cio.CaffeFormatError, match="bn_param"):
        cio.read_net(text)  # our schema does not know the dialect's field


@pytest.mark.slow
def test_caffemodels_over_64_mb_load(tmp_path: Path) -> None:
    text = """
    layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4200 } } }
    layer { name: "fc" type: "InnerProduct" bottom: "x" top: "y"
      inner_product_param { num_output: 4200 } }
    """
    net = CaffeNet(cio.read_net(text))
    net.layer_by_name("fc").blobs[0].data[0, 0] = 3.0
    path = net.save(tmp_path / "big.caffemodel")
    assert path.stat().st_size > 64 * 2**20
    again = CaffeNet(cio.read_net(text))
    assert again.copy_from(path) == ["fc"]
    assert again.layer_by_name("fc").blobs[0][0, 0].item() == 3.0


def test_memorydata_is_fed_by_set_input_arrays(tmp_path: Path) -> None:
    proto = tmp_path / "mem.prototxt"
    proto.write_text(
        'layer { name: "m" type: "MemoryData" top: "data" top: "label"\n'
        "  memory_data_param { batch_size: 2 channels: 1 height: 3 width: 3 } }\n"
        'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"\n'
        '  inner_product_param { num_output: 2 weight_filler { type: "constant" value: 1 } } }\n'
        'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n'
    )
    net = caffe.Net(str(proto), caffe.TRAIN)
    net.set_input_arrays(np.ones((2, 1, 3, 3)), np.array([0, 1]))
    assert net.forward()["loss"] == pytest.approx(np.log(2), rel=1e-5)  # equal logits
    with pytest.raises(OptionError, match="N labels"):
        net.set_input_arrays(np.ones((2, 1, 3, 3)), np.array([0]))


def test_hdf5_data_in_and_out(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    for i in range(2):
        with h5py.File(tmp_path / f"part{i}.h5", "w") as f:
            f["data"] = np.arange(6, dtype=np.float32).reshape(3, 2) + 10 * i
            f["label"] = np.array([0, 1, 2], np.float32) + 3 * i
    (tmp_path / "list.txt").write_text("part0.h5\npart1.h5\n")
    text = f"""
    layer {{ name: "h" type: "HDF5Data" top: "data" top: "label"
      hdf5_data_param {{ source: "{tmp_path / "list.txt"}" batch_size: 4 }} }}
    layer {{ name: "out" type: "HDF5Output" bottom: "data" bottom: "label"
      hdf5_output_param {{ file_name: "out.h5" }} }}
    """
    net = CaffeNet(cio.read_net(text), base=tmp_path)
    assert net.blob_shapes["data"] == (4, 2)
    net()
    net()
    assert net.blob_values["label"].tolist() == [4.0, 5.0, 0.0, 1.0]  # file after file, wrapping
    with h5py.File(tmp_path / "out.h5", "r") as f:
        assert f["data"].shape == (8, 2)
        assert f["label"][:].tolist() == [0, 1, 2, 3, 4, 5, 0, 1]


def test_partial_forward_start_end(tmp_path: Path) -> None:
    proto = tmp_path / "tiny.prototxt"
    proto.write_text(TINY)
    net = caffe.Net(str(proto), caffe.TEST)
    net.blobs["data"].data[...] = 1.0
    full = net.forward()
    head = net.forward(end="pool")
    assert list(head) == ["pool"] and head["pool"].shape == (2, 4, 4, 4)
    net.blobs["pool"].data[...] = 0.0  # edit an intermediate blob, then run the rest
    tail = net.forward(start="fc")
    bias_only = torch.softmax(net.module.layer_by_name("fc").blobs[1].detach(), 0).numpy()
    np.testing.assert_allclose(tail["prob"], np.stack([bias_only] * 2), rtol=1e-5)
    assert not np.allclose(full["prob"], tail["prob"])
    with pytest.raises(CaffeLayerError, match="no layer named"):
        net.forward(start="nope")


def test_v0_nets_upgrade_with_padding_layers_folded() -> None:
    text = """
    name: "old"
    input: "data" input_dim: 1 input_dim: 3 input_dim: 9 input_dim: 9
    layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
    layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 5 stride: 1
      blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
      weight_filler { type: "gaussian" std: 0.1 } } bottom: "pad1" top: "conv1" }
    layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
    layers { layer { name: "pool1" type: "pool" pool: MAX kernelsize: 3 stride: 2 }
      bottom: "conv1" top: "pool1" }
    layers { layer { name: "norm1" type: "lrn" local_size: 3 alpha: 0.001 beta: 0.75 }
      bottom: "pool1" top: "norm1" }
    layers { layer { name: "fc" type: "innerproduct" num_output: 3
      weight_filler { type: "xavier" } } bottom: "norm1" top: "fc" }
    layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.3 } bottom: "fc" top: "fc" }
    layers { layer { name: "prob" type: "softmax" } bottom: "fc" top: "prob" }
    """
    net = cio.read_net(text)
    assert [(lp.name, lp.type) for lp in net.layer] == [
        ("input", "Input"), ("conv1", "Convolution"), ("relu1", "ReLU"), ("pool1", "Pooling"),
        ("norm1", "LRN"), ("fc", "InnerProduct"), ("drop", "Dropout"), ("prob", "Softmax"),
    ]  # fmt: skip
    conv = net.layer[1]
    assert list(conv.bottom) == ["data"] and list(conv.convolution_param.pad) == [2]
    assert (conv.param[1].lr_mult, conv.param[1].decay_mult) == (2.0, 0.0)
    assert net.layer[6].dropout_param.dropout_ratio == pytest.approx(0.3)
    built = CaffeNet(net)
    assert built.blob_shapes["conv1"] == (1, 4, 9, 9)  # the folded padding keeps the size
    assert built.blob_shapes["pool1"] == (1, 4, 4, 4)
    out = built(data=torch.randn(1, 3, 9, 9))["prob"]
    torch.testing.assert_close(out.sum(), torch.tensor(1.0))


def test_v1_data_transform_fields_move_to_transform_param() -> None:
    net = cio.read_net(
        'layers { name: "d" type: DATA top: "data" top: "label" data_param { source: "x" '
        "batch_size: 4 scale: 0.5 crop_size: 3 mirror: true } }"
    )
    t = net.layer[0].transform_param
    assert (t.scale, t.crop_size, t.mirror) == (0.5, 3, True)
    assert not net.layer[0].data_param.HasField("scale")


def test_backward_from_output_diffs_fills_blob_diffs(tmp_path: Path) -> None:
    """pycaffe's deep-dream idiom: force_backward, write the output diff, back-propagate."""
    proto = tmp_path / "fb.prototxt"
    proto.write_text("force_backward: true\n" + TINY)
    net = caffe.Net(str(proto), caffe.TEST)
    net.blobs["data"].data[...] = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    net.forward()
    net.blobs["prob"].diff[...] = 0
    net.blobs["prob"].diff[:, 1] = 1.0  # d(prob[:, 1]) / d(data)
    net.backward()
    saliency = net.blobs["data"].diff
    assert saliency.shape == (2, 3, 8, 8) and np.abs(saliency).sum() > 0
    assert np.abs(net.blobs["pool"].diff).sum() > 0
    net.forward()
    net.backward(prob=np.ones((2, 5)))  # Σ softmax = 1: the gradient vanishes
    assert np.abs(net.blobs["data"].diff).max() < 1e-5
    (tmp_path / "nofb.prototxt").write_text(TINY)
    test_net = caffe.Net(str(tmp_path / "nofb.prototxt"), caffe.TEST)
    test_net.forward()
    with pytest.raises(OptionError, match="force_backward"):
        test_net.backward()


def test_window_data_samples_fg_and_bg_windows(tmp_path: Path) -> None:
    from PIL import Image

    img = np.zeros((40, 60, 3), np.uint8)
    img[5:25, 10:40] = (0, 0, 200)  # a red object (RGB), BGR channel 2 once read by OpenCV
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "windows.txt").write_text(
        "# 0\na.png\n3\n40\n60\n3\n"
        "2 0.9 10 5 39 24\n"  # foreground, class 2
        "0 0.1 45 28 58 38\n"  # background
        "1 0.4 0 0 9 9\n"  # between the thresholds: dropped
    )
    text = f"""
    layer {{ name: "w" type: "WindowData" top: "data" top: "label"
      transform_param {{ crop_size: 8 mirror: false }}
      window_data_param {{ source: "{tmp_path / "windows.txt"}" batch_size: 4 fg_threshold: 0.5
        bg_threshold: 0.3 fg_fraction: 0.5 scale: 0.5 }} }}
    """
    net = CaffeNet(cio.read_net(text), phase=caffe.TRAIN)
    assert net.blob_shapes["data"] == (4, 3, 8, 8)
    net()
    data, label = net.blob_values["data"], net.blob_values["label"].reshape(-1)
    assert label.tolist() == [0.0, 0.0, 2.0, 2.0]  # background first, then foreground
    assert torch.allclose(data[2, 0], torch.full((8, 8), 100.0))  # red object, scaled by 0.5
    assert float(data[0].abs().max()) == 0.0  # the background window is black


HOSTILE_NET = """
name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
        inner_product_param { num_output: 2 } }
"""


def test_hostile_blob_shapes_are_refused_from_the_declared_sizes(tmp_path: Path) -> None:
    proto = tmp_path / "tiny.prototxt"
    proto.write_text(HOSTILE_NET)
    net = CaffeNet(cio.read_net(proto))
    good = net.to_proto()
    for dims, values, message in (
        ([-2, -4], 8, "negative side"),
        ([2**40, 2**40], 8, "declares"),  # numpy's product would wrap around
        ([2, 4], 7, "declares 8 values, it holds 7"),
    ):
        model = caffe_pb2.NetParameter()
        model.CopyFrom(good)
        fc = next(layer for layer in model.layer if layer.name == "fc")
        del fc.blobs[0].shape.dim[:]
        fc.blobs[0].shape.dim.extend(dims)
        del fc.blobs[0].data[:]
        fc.blobs[0].data.extend([0.5] * values)
        path = tmp_path / "hostile.caffemodel"
        path.write_bytes(model.SerializeToString())
        with pytest.raises(CaffeLayerError, match=f"fc: blob shape .*{message}"):
            net.copy_from(path)
    mean = caffe_pb2.BlobProto()
    mean.shape.dim.extend([1, 3, 2**31, 2**31])
    mean.data.extend([1.0, 2.0])
    (tmp_path / "mean.binaryproto").write_bytes(mean.SerializeToString())
    with pytest.raises(cio.CaffeFormatError, match="mean.binaryproto: blob shape"):
        cio.read_mean(tmp_path / "mean.binaryproto")
