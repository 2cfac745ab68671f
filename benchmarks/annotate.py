"""decaf annotate: per-feature latency, all features in one call, peak memory, OCR accuracy,
out-of-the-box object localisation, and two peers run in the same process.

    .venv/bin/python benchmarks/annotate.py            # everything, idle machine
    .venv/bin/python benchmarks/annotate.py --busy     # beside a process that holds one core
    .venv/bin/python benchmarks/annotate.py --only ocr # just the character error rates

Latency: medians of ``--repeats`` warm calls on a 640×480 photo (text: a 640×480 page of 20
words). Peers: open_nsfw through OpenCV dnn (the same Caffe model decaf's safe search runs
through its own importer), and RapidOCR called directly (decaf's text feature adds the
reading order and Cloud Vision's structure on top). Faces: recall and false faces on the LFW
patches of skimage pasted on a photo. OCR: character error rate of text drawn with Pillow's
own scalable font (and DejaVu when the system has it) at three sizes, on white and on a photo,
upright and turned 90/180/270°. Objects: hits (IoU ≥ 0.5) on the hand-written
main-object boxes of tests/annotate/main_objects.py, at several activation-map thresholds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import busy  # before torch: it chooses torch's thread settings
import numpy as np
import skimage.data
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from decaf.annotate import Annotator, schema  # noqa: E402
from decaf.annotate import objects as objmod  # noqa: E402
from tests.annotate.main_objects import BOXES, photo  # noqa: E402
from tests.annotate.test_text import cer  # noqa: E402

WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "five",
    "boxing",
    "wizards",
    "jump",
    "quickly",
]
FEATURES = ["labels", "objects", "faces", "text", "properties", "crop-hints", "safe-search"]


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def fonts() -> list[tuple[str, Callable[[int], ImageFont.FreeTypeFont]]]:
    out = [("pillow-default", lambda s: ImageFont.load_default(size=s))]
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    for name in ("DejaVuSans.ttf", "DejaVuSerif.ttf"):
        if (dejavu / name).is_file():
            out.append((name[:-4], lambda s, p=dejavu / name: ImageFont.truetype(str(p), s)))
    return out


def page(lines: list[str], font: ImageFont.FreeTypeFont, size: int, photo_bg: bool) -> Image.Image:
    """A 640×480 page; on a photo the text is white with a black outline."""
    if photo_bg:
        img = Image.fromarray(skimage.data.coffee()).resize((640, 480))
    else:
        img = Image.new("RGB", (640, 480), "white")
    pen = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        xy = (30, 30 + int(size * 1.5) * i)
        if photo_bg:
            pen.text(xy, line, fill="white", font=font, stroke_width=2, stroke_fill="black")
        else:
            pen.text(xy, line, fill="black", font=font)
    return img


def text_lines(font: ImageFont.FreeTypeFont, size: int, seed: int) -> list[str]:
    """Random words packed into lines that fit the 640×480 page with a margin."""
    rng = np.random.default_rng(seed)
    n_lines = min(6, 400 // int(size * 1.5))
    lines = []
    for _ in range(n_lines):
        words: list[str] = []
        while True:
            word = str(rng.choice(WORDS))
            if font.getlength(" ".join([*words, word])) > 560:
                break
            words.append(word)
        lines.append(" ".join(words))
    return lines


def ocr_accuracy(ann: Annotator) -> dict[str, object]:
    """CER upright and rotated over fonts × sizes × backgrounds (errors summed, then divided)."""
    errors = {"upright": [0.0, 0], "rotated": [0.0, 0]}
    worst: list[tuple[float, str]] = []
    for fname, font in fonts():
        for size in (20, 28, 40):
            for bg in (False, True):
                face = font(size)
                lines = text_lines(face, size, size + bg)
                ref = "\n".join(lines)
                for turn in (0, 90, 180, 270):
                    img = page(lines, face, size, bg).rotate(turn, expand=True)
                    r = ann(img, ["document-text"])
                    got = r.get("fullTextAnnotation", {}).get("text", "").strip()
                    e = cer(ref, got)
                    key = "upright" if turn == 0 else "rotated"
                    errors[key][0] += e * len(ref)
                    errors[key][1] += len(ref)
                    worst.append((e, f"{fname} {size}px {'photo' if bg else 'white'} {turn}°"))
    worst.sort(reverse=True)
    return {
        "cer_upright": round(errors["upright"][0] / errors["upright"][1], 4),
        "cer_rotated": round(errors["rotated"][0] / errors["rotated"][1], 4),
        "pages": len(worst),
        "worst": [f"{w} cer {e:.3f}" for e, w in worst[:3]],
    }


def objects_table(ann: Annotator) -> dict[str, object]:
    clf = ann.imagenet.get()
    table = {}
    for th in (0.1, 0.2, 0.3, 0.4):
        hits, ious = 0, []
        for name, (box, _) in BOXES.items():
            img = Image.fromarray(photo(name))
            found = objmod.from_classifier(clf, img, 3, th)
            iou = 0.0
            if found:
                v = found[0]["boundingPoly"]["normalizedVertices"]
                b = (v[0]["x"] * img.width, v[0]["y"] * img.height, v[2]["x"] * img.width,
                     v[2]["y"] * img.height)  # fmt: skip
                iou = schema.iou(b, box)
            hits += iou >= 0.5
            ious.append(round(iou, 2))
        table[str(th)] = {"hits": f"{hits}/{len(BOXES)}", "iou": ious}
    return table


def latency(ann: Annotator, repeats: int) -> dict[str, object]:
    import cv2

    from decaf.annotate.safesearch import model_files, preprocess

    pic = Image.fromarray(skimage.data.astronaut()).resize((640, 480))
    text = page([" ".join(WORDS[i : i + 5]) for i in range(0, 20, 5)], ImageFont.load_default(
        size=28), 28, False)  # fmt: skip
    out: dict[str, object] = {}
    for f in FEATURES:
        target = text if f == "text" else pic
        out[f] = round(median_ms(lambda f=f, t=target: ann(t, [f]), repeats), 1)
    out["all_eight"] = round(median_ms(lambda: ann(pic, None), max(3, repeats // 2)), 1)
    out["all_eight_on_text_page"] = round(median_ms(lambda: ann(text, None), 3), 1)
    # peers in the same process
    proto, weights = model_files()
    ref = cv2.dnn.readNetFromCaffe(str(proto), str(weights))
    x = preprocess(pic)[None]

    def opencv_nsfw() -> None:
        ref.setInput(x)
        ref.forward()

    out["peer_opencv_dnn_nsfw"] = round(median_ms(opencv_nsfw, repeats), 1)
    reader = ann.text.get()
    out["peer_rapidocr_raw"] = round(
        median_ms(lambda: reader.engine(text, return_word_box=True), repeats), 1)  # fmt: skip
    out["ratio_safe_search_vs_opencv"] = round(out["safe-search"] / out["peer_opencv_dnn_nsfw"], 3)
    out["ratio_text_vs_rapidocr"] = round(out["text"] / out["peer_rapidocr_raw"], 3)
    return out


def _face_canvas(i: int, faces: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """skimage's LFW patch ``i`` (25×25), scaled to 60–140 px, on a 640×480 grey photo."""
    bg = np.asarray(Image.fromarray(skimage.data.coffee()).resize((640, 480)).convert("L")).copy()
    size = 60 + (i % 5) * 20
    patch = Image.fromarray((faces[i] * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BICUBIC
    )
    x, y = 80 + (i * 37) % 400, 40 + (i * 53) % 280
    bg[y : y + size, x : x + size] = np.asarray(patch)
    return np.stack([bg] * 3, -1), (x, y, x + size, y + size)


def faces_table(ann: Annotator) -> dict[str, object]:
    """Recall on the 100 face patches of skimage's LFW subset pasted on a photo (a hit: IoU ≥
    0.3 with the cascade's box), false faces there, and faces found on the 100 non-face
    patches pasted the same way."""
    finder = ann.faces.get()
    patches = skimage.data.lfw_subset()
    hits = false = 0
    for i in range(100):
        img, box = _face_canvas(i, patches)
        boxes = []
        for face in finder(img, 10):
            v = face["fdBoundingPoly"]["vertices"]
            boxes.append((v[0]["x"], v[0]["y"], v[2]["x"], v[2]["y"]))
        hits += any(schema.iou(b, box) >= 0.3 for b in boxes)
        false += sum(schema.iou(b, box) < 0.3 for b in boxes)
    on_non_faces = sum(len(finder(_face_canvas(i, patches)[0], 10)) for i in range(100, 200))
    return {"recall": f"{hits}/100", "false_faces_beside_faces": false,
            "faces_on_non_face_patches": on_non_faces}  # fmt: skip


def batching(ann: Annotator, repeats: int) -> dict[str, object]:
    """Would the server gain by batching label and safe-search requests that arrive together?
    Eight 640×480 pictures one at a time against one batch of eight (the face cascades cannot
    batch)."""
    pics = [Image.fromarray(photo(n)).resize((640, 480)) for n in list(BOXES)[:4]] * 2
    clf, safe = ann.imagenet.get(), ann.safe.get()
    from decaf.annotate.schema import ImageContext, features_from

    wanted = features_from(["labels", "safe-search"])
    out: dict[str, object] = {}
    single = median_ms(lambda: [ann(p, wanted) for p in pics], repeats)
    batched = median_ms(lambda: ann.batch([(p, wanted, ImageContext(), None) for p in pics]),
                        repeats)  # fmt: skip
    out["annotator_labels_and_safe_search"] = {
        "eight_calls_ms": round(single, 1), "one_batch_call_ms": round(batched, 1),
        "batch_vs_singles": round(batched / single, 3)}  # fmt: skip
    for name, single, batch in (
        ("labels", lambda: [clf.probabilities([p]) for p in pics], lambda: clf.probabilities(pics)),
        ("safe_search", lambda: [safe.scores([p]) for p in pics], lambda: safe.scores(pics)),
    ):
        one = median_ms(single, repeats)
        eight = median_ms(batch, repeats)
        out[name] = {"eight_singles_ms": round(one, 1), "one_batch_ms": round(eight, 1),
                     "batch_vs_singles": round(eight / one, 3)}  # fmt: skip
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--only", choices=["latency", "ocr", "objects", "faces", "batching"])
    ap.add_argument("--busy", action="store_true", help="measure beside a process busy on one core")
    args = ap.parse_args()
    with busy.busy_core(args.busy):
        ann = Annotator()
        t = time.perf_counter()
        ann.warm()
        report: dict[str, object] = {"load_seconds": round(time.perf_counter() - t, 2),
                                     "busy": args.busy,
                                     "wait_policy": busy.SETTINGS.wait_policy}  # fmt: skip
        if args.only in (None, "latency"):
            report["latency_ms"] = latency(ann, args.repeats)
        if args.only in (None, "ocr"):
            report["ocr"] = ocr_accuracy(ann)
        if args.only in (None, "objects"):
            report["objects"] = objects_table(ann)
        if args.only in (None, "faces"):
            report["faces"] = faces_table(ann)
        if args.only in (None, "batching"):
            report["batching"] = batching(ann, args.repeats)
        report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
