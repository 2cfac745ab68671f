"""TEXT_DETECTION and DOCUMENT_TEXT_DETECTION with RapidOCR (PP-OCR models on ONNX Runtime).

The ``rapidocr`` wheel carries its detection, orientation and recognition models, so nothing
downloads. RapidOCR finds lines and their words in any orientation; what it does not give is
Cloud Vision's structure, which this module builds:

- **reading order**: each line's reading direction is the vector from its first word to its
  last; lines are sorted along the perpendicular of the mean direction, so text turned 90°,
  180° or 270° comes out in the order a reader of the turned page would read it;
- **vertices** start at the text's own top-left corner and go clockwise as read, which is how
  Cloud Vision reports rotated text;
- **blocks and paragraphs**: consecutive lines closer than 1.8 line heights, overlapping along
  the reading direction, form one block holding one paragraph;
- **symbols**: a word's box cut into equal parts along the reading direction (RapidOCR's own
  per-character boxes are approximate too), with ``detectedBreak`` SPACE after a word,
  EOL_SURE_SPACE at a line's end and LINE_BREAK at a paragraph's end.

``locale`` is the first language hint if given, else ``zh`` when the text holds CJK characters,
else ``en`` (a script guess; the models read Chinese and Latin script without being told).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from decaf.annotate import schema

#: Lines RapidOCR reads with less confidence are dropped: its default, 0.5, lets textures such
#: as a cat's eye through as "0", but 0.75 for every line dropped real lines on busy
#: backgrounds (upright CER 3.6 % against 0.4 % at 0.5; benchmarks/annotate.py --only ocr).
#: So short lines need MIN_TEXT_SCORE and lines of three characters or more MIN_LONG_SCORE.
MIN_TEXT_SCORE = 0.75
MIN_LONG_SCORE = 0.5


@dataclass
class _Word:
    text: str
    score: float
    quad: np.ndarray  #: (4, 2) corners, clockwise from the text's own top-left


@dataclass
class _Line:
    words: list[_Word]
    direction: np.ndarray  #: unit reading direction

    @property
    def centre(self) -> np.ndarray:
        return np.mean([w.quad.mean(0) for w in self.words], 0)

    @property
    def height(self) -> float:
        return float(np.mean([np.linalg.norm(w.quad[3] - w.quad[0]) for w in self.words]))


class TextReader:
    """One RapidOCR engine; a lock serialises calls (RapidOCR stores per-call settings on the
    engine object, so two threads must not share it at once)."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(params={"Global.log_level": "error"})
        self._lock = threading.Lock()

    def lines(self, img: Image.Image) -> list[_Line]:
        """The picture's lines in reading order.

        Why up to two passes: RapidOCR's orientation classifier decides each line alone, and
        on a page turned 180° (or 90°/270°, after RapidOCR stands tall lines up) it gets some
        lines wrong, which then read as noise. When any line was turned, the page is read once
        more in its majority orientation with the per-line classifier off, and the pass that
        reads more confident characters wins."""
        rgb = np.asarray(img)
        with self._lock:
            first, turned = self._pass(rgb, classify=True)
            if turned == 0.0:
                return _order(first)
            flip = turned > 0.5
            second, _ = self._pass(rgb[::-1, ::-1] if flip else rgb, classify=False)
        if flip:
            h, w = rgb.shape[:2]
            second = [_turn_line(ln, w, h) for ln in second]
        best = max((first, second), key=_mass)
        return _order(best)

    def _pass(self, rgb: np.ndarray, classify: bool) -> tuple[list[_Line], float]:
        """One RapidOCR run, step by step as its own ``__call__`` does, keeping what its
        orientation classifier said of each line: RapidOCR 3.10 places the words of a line it
        turned 180° as if the line were upright, and :func:`_unflip` puts them back. Returns
        the confident lines and the share of characters on lines the classifier turned."""
        eng = self.engine
        eng.update_params(return_word_box=True, use_det=None, use_cls=classify, use_rec=None,
                          return_single_char_box=None, text_score=0.0, box_thresh=None,
                          unclip_ratio=None)  # fmt: skip
        original = eng.load_img(np.ascontiguousarray(rgb[:, :, ::-1]))
        work, record = eng.preprocess_img(original)
        det, cls, rec, crops = eng.run_ocr_steps(work, record)
        threshold = eng.text_cls.cls_thresh if classify and eng.text_cls is not None else 1.0
        kept = [i for i, t in enumerate(rec.txts or ()) if t.strip()]
        labels = list(cls.cls_res or []) if classify else []
        flipped = [i < len(labels) and "180" in str(labels[i][0]) and labels[i][1] > threshold
                   for i in kept]  # fmt: skip
        out = eng.build_final_output(original, det, cls, rec, crops, record)
        if out.txts is None or not out.word_results:
            return [], 0.0
        lines, chars, turned = [], 0, 0
        for i, words in enumerate(out.word_results):  # text_score 0 keeps every kept line
            if not words or not _confident(out.txts[i], out.scores[i]):
                continue
            box = np.asarray(out.boxes[i], np.float64)
            lines.append(_line(_unflip(words, box) if flipped[i] else words))
            chars += len(out.txts[i])
            turned += len(out.txts[i]) if flipped[i] else 0
        return lines, turned / max(chars, 1)


def _confident(text: str, score: float) -> bool:
    """Keep a line read with confidence MIN_TEXT_SCORE, or MIN_LONG_SCORE when it holds at least
    three characters: single characters at middling confidence are mostly texture (a cat's
    eye read as "0"), while whole lines on busy backgrounds read at 0.5–0.75 are mostly right."""
    n = len(text.strip())
    return score >= MIN_TEXT_SCORE or (n >= 3 and score >= MIN_LONG_SCORE)


def _mass(lines: list[_Line]) -> float:
    return sum(w.score * len(w.text) for ln in lines for w in ln.words)


def _turn_line(line: _Line, w: int, h: int) -> _Line:
    """A line read on the picture turned 180°, in the picture's own coordinates."""
    size = np.array([w, h], np.float64)
    words = [_Word(wd.text, wd.score, size - wd.quad) for wd in line.words]
    return _Line(words, -line.direction)


def _unflip(words: Any, box: np.ndarray) -> list[tuple[str, float, np.ndarray]]:
    """Turn each word's box 180° about the line's centre (a point reflection)."""
    c = box.mean(0)
    return [(t, s, 2 * c - np.asarray(b, np.float64).reshape(4, 2)) for t, s, b in words]


def _line(raw: Any) -> _Line:
    quads = [np.asarray(box, np.float64).reshape(4, 2) for _, _, box in raw]
    centres = [q.mean(0) for q in quads]
    if len(raw) >= 2 and np.linalg.norm(centres[-1] - centres[0]) > 1e-6:
        d = centres[-1] - centres[0]
    else:  # one word: its longer edge pair is the reading axis (RapidOCR lists it first)
        d = quads[0][1] - quads[0][0]
    d = d / max(np.linalg.norm(d), 1e-9)
    words = [
        _Word(str(t), float(s), _orient(q, d)) for (t, s, _), q in zip(raw, quads, strict=True)
    ]
    return _Line(words, d)


def _orient(quad: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Roll the corners so the first edge runs along the reading direction."""
    best = max(range(4), key=lambda k: float(np.dot(quad[(k + 1) % 4] - quad[k], d)))
    return np.roll(quad, -best, axis=0)


def _order(lines: list[_Line]) -> list[_Line]:
    """Lines in reading order: rows down the page, then along the reading direction.

    The page's direction is the sum of every word's top edge (a precise estimate, unlike word
    centres); lines whose positions across it differ by less than half a line height share a
    row (text side by side) and are ordered along it."""
    if not lines:
        return lines
    total = np.sum([w.quad[1] - w.quad[0] for ln in lines for w in ln.words], 0)
    d = total / max(np.linalg.norm(total), 1e-9)
    n = np.array([-d[1], d[0]])  # image y points down: down the page is d turned +90°
    for ln in lines:
        ln.words.sort(key=lambda w: float(np.dot(w.quad.mean(0), d)))
    across = sorted(lines, key=lambda ln: float(np.dot(ln.centre, n)))
    rows: list[list[_Line]] = []
    for ln in across:
        pos = float(np.dot(ln.centre, n))
        if rows and pos - float(np.dot(rows[-1][0].centre, n)) < 0.5 * ln.height:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [ln for row in rows for ln in sorted(row, key=lambda x: float(np.dot(x.centre, d)))]


def _paragraphs(lines: list[_Line]) -> list[list[_Line]]:
    groups: list[list[_Line]] = []
    for ln in lines:
        if groups and _follows(groups[-1][-1], ln):
            groups[-1].append(ln)
        else:
            groups.append([ln])
    return groups


def _follows(a: _Line, b: _Line) -> bool:
    d = a.direction
    n = np.array([-d[1], d[0]])
    gap = float(np.dot(b.centre - a.centre, n))
    if not 0 < gap <= 1.8 * max(a.height, b.height):
        return False
    spans = [[float(np.dot(p, d)) for w in ln.words for p in w.quad] for ln in (a, b)]
    return min(max(spans[0]), max(spans[1])) > max(min(spans[0]), min(spans[1]))


def locale(text: str, hints: tuple[str, ...]) -> str:
    if hints:
        return hints[0]
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"


def _poly(points: np.ndarray, w: int, h: int) -> dict[str, Any]:
    return {"vertices": schema.polygon(points, w, h)}


def _hull(quads: list[np.ndarray]) -> np.ndarray:
    pts = np.concatenate(quads)
    (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])


def annotate(
    lines: list[_Line],
    width: int,
    height: int,
    hints: tuple[str, ...],
    document: bool,
    word_confidence: bool,
) -> dict[str, Any]:
    """``textAnnotations`` and ``fullTextAnnotation`` from ordered lines (empty dict: no text)."""
    if not lines:
        return {}
    paragraphs = _paragraphs(lines)
    text = "\n".join(" ".join(w.text for w in ln.words) for ln in lines) + "\n"
    loc = locale(text, hints)
    words = [w for ln in lines for w in ln.words]
    first = {
        "locale": loc,
        "description": text,
        "boundingPoly": _poly(_hull([w.quad for w in words]), width, height),
    }
    per_word = []
    for w in words:
        item: dict[str, Any] = {"description": w.text, "boundingPoly": _poly(w.quad, width, height)}
        if word_confidence or document:
            item["confidence"] = round(w.score, 4)
        per_word.append(item)
    full = _full_text(paragraphs, text, loc, width, height)
    return {"textAnnotations": [first, *per_word], "fullTextAnnotation": full}


def _full_text(
    paragraphs: list[list[_Line]], text: str, loc: str, w: int, h: int
) -> dict[str, Any]:
    lang = {"detectedLanguages": [{"languageCode": loc, "confidence": 1.0}]}
    blocks = []
    for para in paragraphs:
        words = [
            _word_json(wd, i == len(ln.words) - 1, ln is para[-1], w, h)
            for ln in para
            for i, wd in enumerate(ln.words)
        ]
        conf = round(float(np.mean([wd.score for ln in para for wd in ln.words])), 4)
        box = _poly(_hull([wd.quad for ln in para for wd in ln.words]), w, h)
        paragraph = {"property": lang, "boundingBox": box, "words": words, "confidence": conf}
        blocks.append(
            {
                "property": lang,
                "boundingBox": box,
                "paragraphs": [paragraph],
                "blockType": "TEXT",
                "confidence": conf,
            }
        )
    conf = round(float(np.mean([b["confidence"] for b in blocks])), 4)
    page = {"property": lang, "width": w, "height": h, "blocks": blocks, "confidence": conf}
    return {"pages": [page], "text": text}


def _word_json(word: _Word, line_end: bool, para_end: bool, w: int, h: int) -> dict[str, Any]:
    chars = list(word.text) or [" "]
    q = word.quad
    symbols = []
    for i, ch in enumerate(chars):
        a, b = i / len(chars), (i + 1) / len(chars)
        top0, top1 = q[0] + a * (q[1] - q[0]), q[0] + b * (q[1] - q[0])
        bot0, bot1 = q[3] + a * (q[2] - q[3]), q[3] + b * (q[2] - q[3])
        sym: dict[str, Any] = {
            "text": ch,
            "confidence": round(word.score, 4),
            "boundingBox": _poly(np.array([top0, top1, bot1, bot0]), w, h),
        }
        if i == len(chars) - 1:
            kind = (
                "LINE_BREAK"
                if line_end and para_end
                else ("EOL_SURE_SPACE" if line_end else "SPACE")
            )
            sym["property"] = {"detectedBreak": {"type": kind}}
        symbols.append(sym)
    return {"boundingBox": _poly(q, w, h), "symbols": symbols, "confidence": round(word.score, 4)}
