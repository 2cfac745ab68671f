"""``decaf annotate``: tables, one JSON document, drawings, errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from decaf.cli import main


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "pics"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()).save(d / "astro.png")
    Image.fromarray(skimage.data.chelsea()).save(d / "sub" / "cat.jpg")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return d


def test_json_is_one_responses_document(folder: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["annotate", str(folder), "--features", "labels,faces", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = ["astro.png", "broken.png", "cat.jpg"]
    assert len(doc["responses"]) == len(names)
    astro, broken, cat = doc["responses"]
    assert astro["faceAnnotations"] and cat["labelAnnotations"]
    assert broken["error"]["code"] == 3 and "broken.png" in broken["error"]["message"]
    vision = pytest.importorskip("google.cloud.vision")
    from google.protobuf import json_format

    json_format.Parse(json.dumps(doc), vision.BatchAnnotateImagesResponse()._pb)


def test_table_and_drawing(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "drawn.png"
    code = main(
        [
            "annotate",
            str(folder / "astro.png"),
            "--features",
            "faces,labels",
            "--draw",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "faces" in text and "joy VERY_LIKELY" in text
    drawn = Image.open(out)
    assert drawn.size == (512, 512)
    before = np.asarray(Image.open(folder / "astro.png").convert("RGB"))
    assert (np.asarray(drawn.convert("RGB")) != before).any()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--features", "labels,bogus"], "unknown feature 'bogus'"),
        (["--max-results", "0"], "maxResults"),
        (["--aspect-ratios", "1,x"], "--aspect-ratios"),
        (["--aspect-ratios", ",".join(["1"] * 17)], "at most 16"),
        (["--draw", "/nonexistent/dir/x.png"], "x.png"),
        (["--detector", "/nonexistent.pt"], "nonexistent.pt"),
    ],
)
def test_bad_options_exit_2_with_one_error_line(
    folder: Path, args: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["annotate", str(folder / "astro.png"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_draw_refuses_a_folder(folder: Path, tmp_path: Path, capsys) -> None:
    assert main(["annotate", str(folder), "--draw", str(tmp_path / "d.png")]) == 2
    assert "one picture" in capsys.readouterr().err
    assert not (tmp_path / "d.png").exists()


def test_summary_rows_follow_the_feature_order() -> None:
    from decaf.annotate.files import summary

    rows = summary({
        "safeSearchAnnotation": {"adult": "UNLIKELY", "racy": "VERY_UNLIKELY"},
        "textAnnotations": [{"description": "two\nlines\n"}],
        "labelAnnotations": [{"description": "Cat", "score": 0.5}],
        "cropHintsAnnotation": {"cropHints": [{"boundingPoly": {"vertices": [
            {"x": 0, "y": 0}, {"x": 9, "y": 0}, {"x": 9, "y": 5}, {"x": 0, "y": 5}]},
            "importanceFraction": 0.8}]},
        "error": {"code": 13, "message": "FACE_DETECTION: broke"},
    })  # fmt: skip
    assert [name for name, _ in rows] == ["labels", "text", "crop-hints", "safe-search", "error"]
    assert rows[1][1] == "two / lines" and rows[2][1] == "(0,0)-(9,5) keeps 80%"
