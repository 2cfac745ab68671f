"""Faster R-CNN / Mask R-CNN from torchvision's parts on a zoo backbone with an FPN.

The backbone is any zoo network (default: the ImageNet-pretrained EfficientNet-Lite0) cut into
feature stages by timm's ``FeatureListNet``; torchvision's ``FeaturePyramidNetwork`` adds the
pyramid (plus a max-pooled extra level for the RPN), and torchvision's ``FasterRCNN`` /
``MaskRCNN`` supply the RPN, RoI heads, RoIAlign (``MultiScaleRoIAlign``) or RoIPool and NMS.
Images are normalised inside the model with the backbone's own mean and std. Labels are
1..K; 0 is background, as torchvision expects.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN, MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from decaf.core.errors import OptionError
from decaf.zoo.encoder import Encoder
from decaf.zoo.registry import create_model, get_spec

TASK = "detect"
PYRAMID_LEVELS = 4  #: three FPN maps and the max-pooled extra level: one anchor size each
#: The options that shape the network; a bundle's config holds them, so inference rebuilds it.
ARCH_OPTIONS = ("backbone", "masks", "roi", "min_size", "max_size", "fpn_channels", "head_width",
                "rois_per_image", "anchor_sizes", "aspect_ratios")  # fmt: skip


class ZooFPN(nn.Module):
    """Zoo backbone stages (the one :class:`~decaf.zoo.encoder.Encoder`, at timm's
    ``feature_info`` stages ``out_indices``) + FPN → ``OrderedDict`` of maps ('0', ..., 'pool')."""

    def __init__(
        self,
        backbone: str,
        pretrained: bool = True,
        weights: str | os.PathLike | None = None,
        out_indices: Sequence[int] = (2, 3, 4),
        out_channels: int = 256,
    ) -> None:
        super().__init__()
        from timm.layers import freeze_batch_norm_2d

        net = create_model(backbone, pretrained=pretrained, weights=weights)
        stages = [f["module"] for f in net.feature_info]
        try:
            layers = [stages[i] for i in out_indices]
        except IndexError:
            raise OptionError(f"{backbone} has {len(stages)} feature stages, not "
                              f"{max(out_indices) + 1}") from None  # fmt: skip
        # the detector's transform normalises (before padding the batch), so the encoder must
        # not; its weights train with the heads
        self.body = Encoder(net, layers, normalize=False, frozen=False, channels_last=False)
        if pretrained or weights:
            # detection batches are small: keep the backbone's BatchNorm statistics and affine
            # terms fixed (torchvision and detectron2 do the same with FrozenBatchNorm)
            self.body.body = freeze_batch_norm_2d(self.body.body)
        channels = [net.feature_info[i]["num_chs"] for i in out_indices]
        self.fpn = FeaturePyramidNetwork(channels, out_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        feats = self.body(x)
        return self.fpn(OrderedDict((str(i), feats[n]) for i, n in enumerate(self.body.layers)))


def build(
    num_classes: int,
    backbone: str = "efficientnet_lite0",
    pretrained: bool = True,
    weights: str | os.PathLike | None = None,
    masks: bool = False,
    roi: str = "align",
    anchor_sizes: Sequence[int] = (16, 32, 64, 128),
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    min_size: int = 256,
    max_size: int = 512,
    fpn_channels: int = 128,
    head_width: int = 512,
    rois_per_image: int = 128,
    rpn_top_n: tuple[int, int, int, int] = (1000, 300, 500, 100),
    external_proposals: bool = False,
) -> nn.Module:
    """A detector for ``num_classes`` object classes (background excluded).

    The defaults are sized for CPUs and small pictures rather than torchvision's COCO settings
    (256-channel FPN, 1024-wide box head, 512 RoIs per image, 2000 proposals): on 2 cores those
    spent 80 % of a training step in the box head's first layer and RoIAlign's backward pass.
    128 RoIs per image is py-faster-rcnn's batch. ``rpn_top_n`` is the RPN's (train pre-NMS,
    train post-NMS, test pre-NMS, test post-NMS) top-n. ``external_proposals`` builds Fast R-CNN
    (``decaf.detect.proposals.FastRCNN``): no RPN, proposals come with the pictures.
    """
    if num_classes < 1:
        raise OptionError("a detector needs at least one object class")
    if roi not in ("align", "pool"):
        raise OptionError(f"roi must be align or pool, got {roi!r}")
    spec = get_spec(backbone)
    body = ZooFPN(backbone, pretrained, weights, out_channels=fpn_channels)
    levels = ["0", "1", "2"]  # the FPN's maps; the RPN also sees the max-pooled extra level
    if len(anchor_sizes) != PYRAMID_LEVELS:
        raise OptionError(f"give {len(levels) + 1} anchor sizes, one per pyramid level")
    anchors = AnchorGenerator(
        sizes=tuple((s,) for s in anchor_sizes),
        aspect_ratios=(tuple(aspect_ratios),) * len(anchor_sizes),
    )
    if roi == "align":
        box_pool = MultiScaleRoIAlign(levels, output_size=7, sampling_ratio=2)
    else:
        box_pool = _RoIPool(levels)
    kwargs = dict(
        rpn_anchor_generator=anchors, box_roi_pool=box_pool,
        min_size=min_size, max_size=max_size, image_mean=list(spec.mean),
        image_std=list(spec.std), box_batch_size_per_image=rois_per_image,
        box_head=TwoMLPHead(fpn_channels * 7 * 7, head_width),
        box_predictor=FastRCNNPredictor(head_width, num_classes + 1),
        rpn_pre_nms_top_n_train=rpn_top_n[0], rpn_post_nms_top_n_train=rpn_top_n[1],
        rpn_pre_nms_top_n_test=rpn_top_n[2], rpn_post_nms_top_n_test=rpn_top_n[3],
    )  # fmt: skip
    if external_proposals:
        if masks:
            raise OptionError("external proposals (Fast R-CNN) come without a mask head")
        from decaf.detect.proposals import FastRCNN

        return FastRCNN(body, **kwargs)
    if masks:
        mask_pool = MultiScaleRoIAlign(levels, output_size=14, sampling_ratio=2)
        from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

        head = MaskRCNNHeads(fpn_channels, (fpn_channels,) * 4, 1)
        predictor = MaskRCNNPredictor(fpn_channels, fpn_channels, num_classes + 1)
        return MaskRCNN(body, mask_roi_pool=mask_pool, mask_head=head, mask_predictor=predictor,
                        **kwargs)  # fmt: skip
    return FasterRCNN(body, **kwargs)


class _RoIPool(MultiScaleRoIAlign):
    """Fast R-CNN's RoI max pooling (7×7) on the finest pyramid level, in the RoIAlign slot
    (torchvision accepts only that type there)."""

    def __init__(self, levels: list[str]) -> None:
        super().__init__(levels, output_size=7, sampling_ratio=2)
        self.level = levels[0]

    def forward(  # type: ignore[override]
        self,
        features: dict[str, torch.Tensor],
        proposals: list[torch.Tensor],
        image_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        from torchvision.ops import roi_pool

        fmap = features[self.level]
        widest = max(w for _, w in image_shapes)
        scale = 2.0 ** round(math.log2(fmap.shape[-1] / widest))  # the level's stride, e.g. 1/8
        return roi_pool(fmap, proposals, (7, 7), spatial_scale=scale)


def from_config(num_classes: int, config: dict[str, Any], pretrained: bool) -> nn.Module:
    """The network a training config (or a bundle's saved config) describes."""
    return build(num_classes, pretrained=pretrained,
                 external_proposals=config.get("proposals") is not None,
                 **{k: config[k] for k in ARCH_OPTIONS if k in config})  # fmt: skip
