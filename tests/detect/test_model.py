"""Anchors and target assignment of the detector we build, on hand-made cases."""

from __future__ import annotations

import torch
from torchvision.models.detection.image_list import ImageList

from decaf.detect.model import build


def _net(**kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build(3, pretrained=False, min_size=128, max_size=128, **kw)


def test_anchor_grid_sizes_and_count() -> None:
    net = _net(anchor_sizes=(16, 32, 64, 128), aspect_ratios=(0.5, 1.0, 2.0))
    images = ImageList(torch.zeros(1, 3, 128, 128), [(128, 128)])
    feats = list(net.backbone(images.tensors).values())
    strides = [128 // f.shape[-1] for f in feats]
    assert strides == [8, 16, 32, 64]  # three backbone stages + the max-pooled extra level
    anchors = net.rpn.anchor_generator(images, feats)[0]
    per_level = [3 * f.shape[-2] * f.shape[-1] for f in feats]
    assert anchors.shape == (sum(per_level), 4)
    # the first anchors of level 0: ratio 0.5, 1, 2 around (0, 0), area 16² each
    w = anchors[:3, 2] - anchors[:3, 0]
    h = anchors[:3, 3] - anchors[:3, 1]
    assert torch.allclose(w * h, torch.full((3,), 256.0), rtol=0.05)
    # torchvision rounds anchor corners to whole pixels: 12×22, 16×16, 22×12
    assert torch.allclose(h / w, torch.tensor([0.5, 1.0, 2.0]), rtol=0.1)
    assert (h < w).tolist() == [True, False, False] and (h > w).tolist() == [False, False, True]


def test_rpn_labels_anchors_by_iou() -> None:
    net = _net()
    anchors = [torch.tensor([[0.0, 0, 32, 32], [4, 0, 36, 32], [16, 0, 48, 32], [64, 64, 96, 96]])]
    targets = [{"boxes": torch.tensor([[0.0, 0, 32, 32]]), "labels": torch.tensor([1])}]
    labels, matched = net.rpn.assign_targets_to_anchors(anchors, targets)
    # IoU 1 → positive; 0.78 ≥ 0.7 → positive; 0.33 in (0.3, 0.7) → ignored; 0 → negative
    assert labels[0].tolist() == [1.0, 1.0, -1.0, 0.0]
    assert torch.equal(matched[0][0], targets[0]["boxes"][0])


def test_roi_head_assigns_classes_and_background() -> None:
    net = _net()
    proposals = [torch.tensor([[0.0, 0, 32, 32], [0, 0, 32, 24], [0, 0, 32, 8], [50, 50, 60, 60]])]
    _, labels = net.roi_heads.assign_targets_to_proposals(
        proposals, [torch.tensor([[0.0, 0, 32, 32]])], [torch.tensor([2])]
    )
    # IoU 1 and 0.75 ≥ 0.5 → class 2; 0.25 and 0 → background
    assert labels[0].tolist() == [2, 2, 0, 0]


def test_mask_head_shapes() -> None:
    net = _net(masks=True).eval()
    with torch.no_grad():
        out = net([torch.rand(3, 96, 128)])[0]
    n = len(out["boxes"])
    assert out["masks"].shape == (n, 1, 96, 128)
    net.train()
    target = {"boxes": torch.tensor([[8.0, 8, 60, 60]]), "labels": torch.tensor([1]),
              "masks": torch.zeros(1, 96, 128, dtype=torch.uint8)}  # fmt: skip
    target["masks"][0, 8:60, 8:60] = 1
    losses = net([torch.rand(3, 96, 128)], [target])
    assert losses["loss_mask"].ndim == 0 and torch.isfinite(losses["loss_mask"])
