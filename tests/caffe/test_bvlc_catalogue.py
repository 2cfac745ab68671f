"""Every BVLC prototxt and solver in ../shared builds, runs and back-propagates here."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decaf.caffe import io as cio
from decaf.caffe.net import TEST, TRAIN, CaffeNet
from decaf.train.schedules import LRPolicy

BVLC = Path(__file__).resolve().parents[3] / "shared" / "caffe" / "bvlc"
# the data blobs' shapes (their LMDB/ImageData sources are not part of ../shared)
NETS = {
    "examples/mnist/lenet_train_test.prototxt": (1, 28, 28),
    "examples/mnist/mnist_autoencoder.prototxt": (1, 28, 28),
    "examples/cifar10/cifar10_quick_train_test.prototxt": (3, 32, 32),
    "examples/cifar10/cifar10_full_train_test.prototxt": (3, 32, 32),
    "examples/cifar10/cifar10_full_sigmoid_train_test_bn.prototxt": (3, 32, 32),
    "models/bvlc_reference_caffenet/train_val.prototxt": (3, 227, 227),
    "models/finetune_flickr_style/train_val.prototxt": (3, 227, 227),
}


def _need_shared() -> None:
    if not BVLC.is_dir():
        pytest.skip("../shared/caffe is not present")


@pytest.mark.parametrize("rel", sorted(NETS))
@pytest.mark.parametrize("phase", [TRAIN, TEST])
def test_train_val_nets_build_run_and_backprop(rel: str, phase: int) -> None:
    _need_shared()
    proto = cio.read_net(BVLC / rel)
    stages = ["test-on-test"] if "autoencoder" in rel and phase == TEST else []
    chw = NETS[rel]
    n = 2
    shapes = {"data": (n, *chw), "label": (n,)}
    net = CaffeNet(proto, phase=phase, stages=stages, input_shapes=shapes)
    net.train(phase == TRAIN)
    torch.manual_seed(0)
    feed = {"data": torch.rand(n, *chw)}
    if "label" in net.inputs:
        feed["label"] = torch.randint(0, 10, (n,)).float()
    net(**feed)
    loss = net.loss()
    assert torch.isfinite(loss)
    if phase == TRAIN:
        loss.backward()
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads)


def test_every_solver_parses_into_a_policy() -> None:
    _need_shared()
    solvers = sorted(BVLC.rglob("*solver*.prototxt"))
    assert len(solvers) >= 9
    for path in solvers:
        p = cio.read_solver(path)
        policy = LRPolicy(p.lr_policy, base_lr=p.base_lr, gamma=p.gamma, power=p.power,
                          stepsize=max(1, p.stepsize), stepvalue=tuple(p.stepvalue),
                          max_iter=p.max_iter)  # fmt: skip
        assert policy.rate(0) > 0, path.name
