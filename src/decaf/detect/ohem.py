"""Online hard example mining for the RoI head (Shrivastava et al. 2016).

Instead of sampling a fixed fg/bg mix of RoIs per image, OHEM scores *every* proposal with its
current loss (classification cross-entropy plus, for foreground RoIs, smooth-L1 box loss),
optionally de-duplicates them with NMS on that loss (0.7 in the paper's code), and trains on the
B hardest. There is no foreground fraction: the losses decide. :class:`OHEMRoIHeads` plugs into
torchvision's Faster R-CNN; its inference path is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.ops import boxes as box_ops


def select_hard(
    losses: torch.Tensor, boxes: torch.Tensor, count: int, nms: float | None = 0.7
) -> torch.Tensor:
    """Indices of the ``count`` highest-loss RoIs, after NMS on the loss when ``nms`` is set."""
    order = torch.argsort(losses, descending=True)
    if nms is not None and len(order):
        order = box_ops.nms(boxes.float(), losses.float(), nms)
    return order[:count]


class OHEMRoIHeads(RoIHeads):
    """torchvision's RoIHeads with OHEM in training (boxes only, not masks)."""

    def __init__(self, base: RoIHeads, batch_per_image: int, nms: float | None = 0.7) -> None:
        super().__init__(
            base.box_roi_pool, base.box_head, base.box_predictor,
            fg_iou_thresh=base.proposal_matcher.high_threshold,
            bg_iou_thresh=base.proposal_matcher.low_threshold,
            batch_size_per_image=1_000_000, positive_fraction=1.0,  # keep every proposal
            bbox_reg_weights=base.box_coder.weights, score_thresh=base.score_thresh,
            nms_thresh=base.nms_thresh, detections_per_img=base.detections_per_img,
        )  # fmt: skip
        self.ohem_batch = batch_per_image
        self.ohem_nms = nms
        self.last_selected: list[int] = []

    def forward(self, features, proposals, image_shapes, targets=None):  # type: ignore[no-untyped-def]
        if not self.training:
            return super().forward(features, proposals, image_shapes, targets)
        proposals, _, labels, regression_targets = self.select_training_samples(proposals, targets)
        feats = self.box_head(self.box_roi_pool(features, proposals, image_shapes))
        class_logits, box_regression = self.box_predictor(feats)
        labels_all = torch.cat(labels)
        targets_all = torch.cat(regression_targets)
        n = class_logits.shape[0]
        per_cls = F.cross_entropy(class_logits, labels_all, reduction="none")
        per_box = class_logits.new_zeros(n)
        pos = torch.where(labels_all > 0)[0]
        if len(pos):
            reg = box_regression.reshape(n, -1, 4)[pos, labels_all[pos]]
            per_box[pos] = F.smooth_l1_loss(reg, targets_all[pos], beta=1 / 9,
                                            reduction="none").sum(1)  # fmt: skip
        per_roi = (per_cls + per_box).detach()
        keep, start = [], 0
        self.last_selected = []
        for p in proposals:
            idx = select_hard(per_roi[start : start + len(p)], p, self.ohem_batch, self.ohem_nms)
            keep.append(idx + start)
            self.last_selected.append(len(idx))
            start += len(p)
        chosen = torch.cat(keep)
        losses = {
            "loss_classifier": per_cls[chosen].mean(),
            "loss_box_reg": per_box[chosen].sum() / max(1, len(chosen)),
        }
        return [], losses


def enable_ohem(
    model: torch.nn.Module, batch_per_image: int = 128, nms: float | None = 0.7
) -> None:
    """Swap a torchvision Faster R-CNN's RoI heads for :class:`OHEMRoIHeads` in place."""
    if getattr(model.roi_heads, "has_mask", lambda: False)():
        from decaf.core.errors import OptionError

        raise OptionError("OHEM is implemented for box heads only, not with --masks")
    model.roi_heads = OHEMRoIHeads(model.roi_heads, batch_per_image, nms)
