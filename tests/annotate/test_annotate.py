"""The Annotator end to end: Cloud Vision's message types, partial failure, faces, safe search,
objects against hand-written boxes, colours, crop hints, threads, user bundles."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from decaf.annotate import Annotator, ImageContext, annotate
from decaf.annotate.colors import crop_hints, dominant_colors
from decaf.annotate.files import to_json
from decaf.annotate.schema import iou
from tests.annotate.conftest import text_picture
from tests.annotate.main_objects import BOXES, photo


def _parse(response: dict) -> object:
    """Parse into the official client's message; unknown fields or bad types raise."""
    vision = pytest.importorskip("google.cloud.vision")
    from google.protobuf import json_format

    msg = vision.AnnotateImageResponse()._pb
    json_format.Parse(json.dumps(response), msg)
    return msg


def test_opencv_build_keeps_caffe_importer_cascades_and_contrib() -> None:
    import cv2

    assert cv2.__version__.startswith("4.14")
    assert hasattr(cv2.dnn, "readNetFromCaffe") and hasattr(cv2, "CascadeClassifier")
    assert not cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye.xml").empty()
    assert hasattr(cv2.saliency, "StaticSaliencySpectralResidual_create")
    assert hasattr(cv2.ximgproc, "segmentation")  # selective search (detect's proposals)


def test_every_feature_parses_as_cloud_vision(annotator: Annotator) -> None:
    astro = annotator(skimage.data.astronaut(), context=ImageContext([1.0, 1.78]))
    text = annotator(text_picture(), ["document-text", "text"])
    cat = annotator(skimage.data.chelsea(), ["objects"])
    for r in (astro, text, cat):
        assert "error" not in r
        _parse(r)
    assert {
        "labelAnnotations",
        "faceAnnotations",
        "imagePropertiesAnnotation",
        "cropHintsAnnotation",
        "safeSearchAnnotation",
    } <= set(astro)
    assert len(astro["cropHintsAnnotation"]["cropHints"]) == 2
    assert {"textAnnotations", "fullTextAnnotation"} <= set(text)
    assert cat["localizedObjectAnnotations"][0]["name"].endswith("cat")
    msg = _parse(astro)
    assert msg.face_annotations[0].joy_likelihood == 5  # VERY_LIKELY: she smiles
    # explicit zeros in pixel vertices (proto3 JSON would drop them)
    assert all(
        "x" in v and "y" in v
        for v in astro["cropHintsAnnotation"]["cropHints"][0]["boundingPoly"]["vertices"]
    )


def test_one_failing_feature_leaves_the_others(
    annotator: Annotator, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def __call__(self, *a: object) -> None:
            raise RuntimeError("cascade exploded")

    mine = Annotator()
    mine.classifier = annotator.classifier  # share the loaded model
    monkeypatch.setattr(mine.faces, "get", lambda: Broken())
    r = mine(skimage.data.astronaut(), ["labels", "faces", "LANDMARK_DETECTION"])
    assert r["labelAnnotations"] and "faceAnnotations" not in r
    assert r["error"]["code"] == 13 and "FACE_DETECTION" in r["error"]["message"]
    assert "LANDMARK_DETECTION is not available" in r["error"]["message"]
    _parse(r)


def test_bad_picture_gives_only_an_error(annotator: Annotator, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    r = annotator(str(bad), ["labels"])
    assert list(r) == ["error"] and r["error"]["code"] == 3 and "bad.jpg" in r["error"]["message"]
    assert list(annotator(b"", ["labels"])) == ["error"]


def test_astronaut_face_with_both_eyes_and_none_elsewhere(annotator: Annotator) -> None:
    faces = annotator(skimage.data.astronaut(), ["faces"])["faceAnnotations"]
    assert len(faces) == 1
    f = faces[0]
    xs = [v["x"] for v in f["fdBoundingPoly"]["vertices"]]
    ys = [v["y"] for v in f["fdBoundingPoly"]["vertices"]]
    assert 150 <= min(xs) < max(xs) <= 300 and 40 <= min(ys) < max(ys) <= 200
    eyes = {m["type"]: m["position"] for m in f["landmarks"]}
    assert set(eyes) == {"LEFT_EYE", "RIGHT_EYE"}
    assert eyes["LEFT_EYE"]["x"] < eyes["RIGHT_EYE"]["x"]  # the viewer's left
    for e in eyes.values():
        assert min(xs) < e["x"] < max(xs) and min(ys) < e["y"] < (min(ys) + max(ys)) / 2
    assert abs(f["rollAngle"]) < 15 and 0.5 < f["detectionConfidence"] <= 1
    for other in (skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()):
        assert "faceAnnotations" not in annotator(other, ["faces"])


def test_safe_search_of_ordinary_photos(annotator: Annotator) -> None:
    calm = {"VERY_UNLIKELY", "UNLIKELY"}
    for pic in (skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()):
        s = annotator(pic, ["safe-search"])["safeSearchAnnotation"]
        assert s["adult"] in calm and s["racy"] in calm and s["violence"] == "UNKNOWN"


def test_objects_out_of_the_box_hit_the_hand_written_boxes(annotator: Annotator) -> None:
    hits = 0
    for name, (box, _) in BOXES.items():
        img = Image.fromarray(photo(name))
        found = annotator(img, ["objects"]).get("localizedObjectAnnotations", [])
        if found:
            v = found[0]["boundingPoly"]["normalizedVertices"]
            got = (
                v[0]["x"] * img.width,
                v[0]["y"] * img.height,
                v[2]["x"] * img.width,
                v[2]["y"] * img.height,
            )
            hits += iou(got, box) >= 0.5
    assert hits >= 4, f"{hits} of {len(BOXES)} main objects found (measured: 5)"


def test_dominant_colours_and_crop_hints_on_made_pictures() -> None:
    rgb = np.zeros((60, 100, 3), np.uint8)
    rgb[:, :70] = (200, 30, 30)
    rgb[:, 70:] = (20, 40, 220)
    sal = np.ones((60, 100))
    cols = dominant_colors(rgb, sal, k=4)["dominantColors"]["colors"]
    assert len(cols) == 2  # only two colours exist
    red = max(cols, key=lambda c: c["pixelFraction"])
    assert abs(red["pixelFraction"] - 0.7) < 1e-6 and abs(red["color"]["red"] - 200) <= 1
    sal = np.zeros((60, 100))
    sal[10:30, 80:95] = 1.0  # the salient part is on the right
    hint = crop_hints(sal, 1000, 600, (1.0,))["cropHints"][0]
    xs = [v["x"] for v in hint["boundingPoly"]["vertices"]]
    assert max(xs) == 1000 and min(xs) == 400 and hint["importanceFraction"] == 1.0


def test_threads_share_one_annotator(annotator: Annotator) -> None:
    pics = [skimage.data.astronaut(), skimage.data.chelsea(), text_picture()] * 2
    feats = ["labels", "faces", "text", "safe-search"]
    alone = [to_json(annotator(p, feats)) for p in pics]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda p: to_json(annotator(p, feats)), pics))
    assert together == alone


def test_user_classifier_and_detector_bundles(tmp_path: Path) -> None:
    from decaf.classify import model as cmodel
    from decaf.data.synthetic import shapes
    from decaf.detect.train import DetectorOptions, train_detector

    net = cmodel.build("efficientnet_lite0", 3, pretrained=False)
    prep = cmodel.preprocessing("efficientnet_lite0", 64)
    clf = cmodel.save(net, tmp_path / "c.pt", "efficientnet_lite0", ["ant", "bee", "cow"], prep)
    shapes(tmp_path / "s", count=6, val=2, size=(64, 80), seed=1)
    opts = DetectorOptions(iters=2, batch=2, min_size=64, max_size=80, warmup_iters=1)
    train_detector(tmp_path / "s", tmp_path / "d.pt", opts)
    from decaf.core.images import find_pictures

    pic = Image.open(find_pictures(tmp_path / "s")[0]).convert("RGB")
    r = annotate(
        pic, ["labels", "objects"], classifier=clf, detector=tmp_path / "d.pt", max_results=3
    )
    labels = r["labelAnnotations"]
    assert {a["description"] for a in labels} <= {"Ant", "Bee", "Cow"}
    assert all(a["mid"].startswith("decaf:") for a in labels)
    for o in r.get("localizedObjectAnnotations", []):  # an untrained detector may find none
        assert o["name"] in {"Square", "Circle", "Triangle"}
    assert "error" not in r
    _parse(r)


def test_batched_requests_match_single_calls(annotator: Annotator, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    pics = [skimage.data.astronaut(), skimage.data.chelsea(), str(bad), skimage.data.coffee()]
    feats = annotator.batch  # the method under test
    from decaf.annotate.schema import features_from

    wanted = features_from(["labels", "safe-search"])
    together = feats([(p, wanted, ImageContext(), None) for p in pics])
    alone = [annotator(p, wanted) for p in pics]
    assert together[2] == alone[2] and "error" in together[2]
    for a, b in zip(together, alone, strict=True):
        if "error" in a:
            continue
        assert a["safeSearchAnnotation"] == b["safeSearchAnnotation"]
        assert [x["mid"] for x in a["labelAnnotations"]] == [
            x["mid"] for x in b["labelAnnotations"]
        ]
        for x, y in zip(a["labelAnnotations"], b["labelAnnotations"], strict=True):
            assert abs(x["score"] - y["score"]) <= 2e-3
