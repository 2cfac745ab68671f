"""VOC AP against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from decaf.detect.evaluate import Detection, GroundTruth, average_precision, evaluate


def _case() -> tuple[list[Detection], list[GroundTruth]]:
    gts = [
        GroundTruth("a", "dog", (0, 0, 10, 10)),
        GroundTruth("a", "dog", (20, 20, 30, 30)),
        GroundTruth("a", "dog", (40, 40, 50, 50), difficult=True),
        GroundTruth("b", "dog", (0, 0, 10, 10)),
        GroundTruth("b", "cat", (5, 5, 15, 15)),
    ]
    dets = [
        Detection("a", "dog", 0.9, (0, 0, 10, 10)),  # TP
        Detection("a", "dog", 0.8, (1, 1, 10, 10)),  # IoU .81 with a matched box: FP
        Detection("a", "dog", 0.7, (40, 40, 50, 50)),  # the difficult box: ignored
        Detection("b", "dog", 0.6, (50, 50, 60, 60)),  # FP
        Detection("b", "dog", 0.5, (0, 0, 10, 10)),  # TP
        Detection("b", "cat", 0.4, (5, 5, 15, 14)),  # IoU .9: TP
    ]
    return dets, gts


def test_voc_ap_hand_computed() -> None:
    dets, gts = _case()
    # dog: recall 1/3,1/3,-,1/3,2/3 and precision 1,1/2,-,1/3,1/2 over 3 positives
    # 11-point: t ≤ 0.3 → 1 (4 points), 0.4..0.6 → 0.5 (3 points), ≥ 0.7 → 0: 5.5/11
    report = evaluate(dets, gts, voc07=True)
    assert report["per_class"]["dog"]["ap"] == pytest.approx(0.5)
    assert report["per_class"]["dog"]["positives"] == 3
    assert report["per_class"]["cat"]["ap"] == pytest.approx(1.0)
    assert report["mAP50"] == pytest.approx(0.75)
    area = evaluate(dets, gts, voc07=False)
    assert area["per_class"]["dog"]["ap"] == pytest.approx(1 / 3 + 1 / 6)
    strict = evaluate(dets, gts, iou_threshold=0.95)
    assert strict["per_class"]["cat"]["ap"] == pytest.approx(0.0)
    assert "mAP95" in strict


def test_the_two_ap_definitions_differ() -> None:
    recall, precision = np.array([0.5, 1.0]), np.array([1.0, 0.5])
    assert average_precision(recall, precision, voc07=True) == pytest.approx(8.5 / 11)
    assert average_precision(recall, precision, voc07=False) == pytest.approx(0.75)


def test_no_detections_and_unknown_images() -> None:
    _, gts = _case()
    report = evaluate([Detection("zzz", "dog", 1.0, (0, 0, 1, 1))], gts, classes=["dog"])
    assert report["per_class"]["dog"]["ap"] == 0.0 and report["mAP50"] == 0.0


def test_coco_ap_on_a_hand_case() -> None:
    pytest.importorskip("pycocotools")
    from decaf.detect.evaluate import coco_ap

    truths = [GroundTruth("a", "cat", (10, 10, 50, 50)), GroundTruth("b", "cat", (0, 0, 20, 20)),
              GroundTruth("b", "dog", (30, 30, 60, 70), difficult=True)]  # fmt: skip
    exact = [
        Detection("a", "cat", 0.9, (10, 10, 50, 50)),
        Detection("b", "cat", 0.8, (0, 0, 20, 20)),
    ]
    assert coco_ap(exact, truths, ["cat", "dog"]) == {"AP": 1.0, "AP50": 1.0, "AP75": 1.0}
    # a box shifted to IoU 0.6 counts at 0.5 but not at 0.75; a hit on the crowd box is ignored
    shifted = [
        Detection("a", "cat", 0.9, (10, 10, 50, 50)),
        Detection("b", "cat", 0.8, (0, 0, 20, 12)),
        Detection("b", "dog", 0.7, (30, 30, 60, 70)),
    ]
    got = coco_ap(shifted, truths, ["cat", "dog"])
    assert got["AP50"] == 1.0 and got["AP75"] == pytest.approx(0.5, abs=0.01)
