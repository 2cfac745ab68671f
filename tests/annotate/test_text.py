"""OCR: reading order and accuracy at every quarter turn, Cloud Vision's text structure."""

from __future__ import annotations

import pytest
import skimage.data

from decaf.annotate import Annotator
from decaf.annotate.text import locale
from tests.annotate.conftest import LINES, text_picture

EXPECTED = "\n".join(line for line in LINES if line) + "\n"


def cer(ref: str, hyp: str) -> float:
    """Character error rate: Levenshtein distance over the reference's length."""
    prev = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, 1):
        cur = [i]
        for j, b in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return prev[-1] / max(1, len(ref))


@pytest.mark.parametrize("turn", [0, 90, 180, 270])
def test_text_reads_in_order_at_every_quarter_turn(annotator: Annotator, turn: int) -> None:
    img = text_picture().rotate(turn, expand=True)
    r = annotator(img, ["document-text"])
    full = r["fullTextAnnotation"]
    assert cer(EXPECTED, full["text"]) <= 0.05, full["text"]
    assert r["textAnnotations"][0]["description"] == full["text"]
    assert r["textAnnotations"][0]["locale"] == "en"
    # one word per annotation after the first; "Hello" starts at the text's own top-left
    hello = r["textAnnotations"][1]
    assert hello["description"] == "Hello"
    v = hello["boundingPoly"]["vertices"]
    first, second = v[0], v[1]
    along = {0: (1, 0), 90: (0, -1), 180: (-1, 0), 270: (0, 1)}[turn]
    assert (second["x"] - first["x"]) * along[0] + (second["y"] - first["y"]) * along[1] > 20
    page = full["pages"][0]
    assert (page["width"], page["height"]) == img.size
    assert len(page["blocks"]) == 2  # the blank line splits two paragraphs
    words = [w for b in page["blocks"] for p in b["paragraphs"] for w in p["words"]]
    assert len(words) == sum(len(line.split()) for line in LINES)
    breaks = [w["symbols"][-1]["property"]["detectedBreak"]["type"] for w in words]
    assert breaks[0] == "SPACE" and breaks[2] == "EOL_SURE_SPACE" and breaks[-1] == "LINE_BREAK"


def test_no_text_in_a_photo_without_any(annotator: Annotator) -> None:
    r = annotator(skimage.data.chelsea(), ["text"])
    assert "textAnnotations" not in r and "error" not in r


def test_text_detection_confidence_only_when_asked(annotator: Annotator) -> None:
    from decaf.annotate import ImageContext

    plain = annotator(text_picture(), ["text"])
    assert "confidence" not in plain["textAnnotations"][1]
    asked = annotator(text_picture(), ["text"], ImageContext(text_confidence=True))
    assert 0.75 <= asked["textAnnotations"][1]["confidence"] <= 1


def test_locale_guess() -> None:
    assert locale("hello", ()) == "en" and locale("你好", ()) == "zh"
    assert locale("hello", ("de",)) == "de"
