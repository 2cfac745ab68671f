"""Benchmark: decaf's Gatys style transfer against the neural-style (VGG-19) reference pictures.

For each case (the 4 paintings × 2 photos of ../shared/data when present, and the built-in
default chelsea × swirl) it runs ``decaf.stylize``
at 512 px in a fresh process and records wall time, seconds per iteration at the full 512 px
size (median) and peak resident memory. It then scores every picture with the judges of
benchmarks/judges.py, networks the optimiser never uses, of two families (EfficientNet-Lite2
and the open_nsfw Caffe ResNet-50-1by2 through OpenCV dnn), each at shallow and deep layers and
at 256 and 512 px: style distance (relative Gram error) and content distance.

The same scores are computed for jcjohnson/neural-style's reference outputs (VGG-19, 512 px), so
each line prints ours next to the reference and their ratio (< 1 means ours is closer).

    python benchmarks/stylize_gatys.py [--repeats 3] [--cases tubingen_starry,...] [--json]
                                       [--busy]

``--busy`` runs every case beside a process that keeps one core busy (benchmarks/busy.py), as a
shared machine would be.

neural-style itself (Lua Torch + CUDA VGG-19) cannot be installed here, and neural-style-pt
needs a VGG-19 download, so the peer is represented by its published pictures and its
published timings (GPU, see ../shared/research/nst.md); this script prints those for context.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import busy  # noqa: E402  (before torch: with --busy the spinner starts first)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from judges import judges, score_all  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Case:
    name: str
    content: str  # path or built-in photo name
    style: str  # path or built-in style name
    reference: str | None


PHOTOS = ("tubingen", "golden_gate")
#: painting file stem → the short name of neural-style's reference pictures
PAINTINGS = {"starry_night": "starry", "the_scream": "scream", "shipwreck": "shipwreck",
             "woman-with-hat-matisse": "matisse"}  # fmt: skip


def cases() -> list[Case]:
    """The 4 paintings × 2 photos of ../shared/data (with neural-style's picture where it
    published one), and the built-in default."""
    out = []
    if SHARED.is_dir():
        for photo in PHOTOS:
            for painting, short in PAINTINGS.items():
                ref = SHARED / "reference" / f"ref_{photo}_{short}.png"
                out.append(Case(f"{photo}_{short}", str(SHARED / "photos" / f"{photo}.jpg"),
                                str(SHARED / "paintings" / f"{painting}.jpg"),
                                str(ref) if ref.is_file() else None))  # fmt: skip
    out.append(Case("default_chelsea_swirl", "chelsea", "swirl", None))
    return out


def score(js: list, out: Image.Image, case: Case) -> dict[str, float]:
    """Every judge's distances for one picture (see benchmarks/judges.py)."""
    import decaf.stylize as st

    content = st.resolve_content(case.content)
    return score_all(js, out, st.resolve_style(case.style), content)


# --- one run in a fresh process ----------------------------------------------------------------
def run_one(case: Case, out_path: Path, options: dict) -> dict:
    """Stylize one case here and report time, per-iteration time and peak memory."""
    import decaf.stylize as st

    stamps: list[tuple[float, int, int]] = []
    t0 = time.perf_counter()
    result = st.run(
        case.content,
        case.style,
        callback=lambda p: stamps.append((time.perf_counter(), p.level, p.levels)),
        **options,
    )
    wall = time.perf_counter() - t0
    result.image.save(out_path)
    # seconds per iteration at the full output size (the last pyramid level): the cost that
    # grows with the picture; the coarse levels are cheaper
    per_iter = np.diff([t for t, level, levels in stamps if level == levels - 1])
    ends = {level: t for t, level, _ in stamps}  # each level's last iteration
    return {
        "wall_s": wall,
        "level_s": np.diff([t0, *(ends[k] for k in sorted(ends))]).round(2).tolist(),
        "s_per_iter_median": float(np.median(per_iter)) if len(per_iter) else float("nan"),
        "iterations": result.iterations,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "size": list(result.image.size),
    }


def run_isolated(case: Case, out_path: Path, options: dict) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps([case.__dict__, str(out_path), options])]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"case {case.name} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=1, help="runs per case (median reported)")
    ap.add_argument("--cases", default="", help="comma list of case names (default: all)")
    ap.add_argument("--options", default="{}", help="JSON dict of decaf.stylize options")
    ap.add_argument("--tag", default="ours", help="file-name tag for the pictures")
    ap.add_argument("--json", action="store_true", help="print one JSON record per case")
    ap.add_argument("--busy", action="store_true", help="run beside a process busy on one core")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:  # child process
        case_d, out_path, options = json.loads(args.one)
        print(json.dumps(run_one(Case(**case_d), Path(out_path), options)))
        return 0

    torch.set_num_threads(os.cpu_count() or 1)
    options = json.loads(args.options)
    chosen = [c for c in cases() if not args.cases or c.name in args.cases.split(",")]
    if not SHARED.is_dir():
        print("note: ../shared/data is absent; only the built-in default case runs")
    OUT.mkdir(parents=True, exist_ok=True)
    js = judges()
    with busy.busy_core(args.busy):
        records = [run_case(case, args, options, js) for case in chosen]
    if not args.json:
        print_summary(records)
    return 0


def run_case(case: Case, args: argparse.Namespace, options: dict, js: list) -> dict:
    """``args.repeats`` fresh-process runs of one case, scored by the judges, printed."""
    out_path = OUT / f"{case.name}_{args.tag}.png"
    runs = [run_isolated(case, out_path, options) for _ in range(args.repeats)]
    rec: dict = {
        "case": case.name,
        "wall_s_median": statistics.median(r["wall_s"] for r in runs),
        "wall_s_all": [round(r["wall_s"], 2) for r in runs],
        "s_per_iter_median": statistics.median(r["s_per_iter_median"] for r in runs),
        "level_s_median": [
            statistics.median(level) for level in zip(*(r["level_s"] for r in runs), strict=True)
        ],  # fmt: skip
        "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
        "iterations": runs[0]["iterations"],
        "size": runs[0]["size"],
        "ours": score(js, Image.open(out_path), case),
    }
    if case.reference and Path(case.reference).is_file():
        rec["reference"] = score(js, Image.open(case.reference), case)
    if args.json:
        print(json.dumps(rec))
    else:
        print_case(rec)
    return rec


def print_case(rec: dict) -> None:
    print(
        f"\n== {rec['case']}  {rec['size'][0]}×{rec['size'][1]}  "
        f"wall {rec['wall_s_median']:.1f} s (runs {rec['wall_s_all']})  "
        f"{rec['s_per_iter_median']:.3f} s/iter at full size (median)  {rec['iterations']} iters  "
        f"peak RSS {rec['peak_rss_mb_max']:.0f} MB\n   seconds per pyramid level, coarse to "
        f"fine, the first with loading (median): {rec['level_s_median']}"
    )
    ref = rec.get("reference")
    print(f"   {'metric':34s} {'ours':>9s} {'reference':>10s} {'ours/ref':>9s}")
    for key, ours in rec["ours"].items():
        if ref:
            print(f"   {key:34s} {ours:9.4f} {ref[key]:10.4f} {ours / ref[key]:9.2f}")
        else:
            print(f"   {key:34s} {ours:9.4f} {'-':>10s} {'-':>9s}")


def print_summary(records: list[dict]) -> None:
    with_ref = [r for r in records if "reference" in r]
    if not with_ref:
        return
    print("\n== summary: median ours/reference ratio over cases (< 1: closer than neural-style)")
    for key in with_ref[0]["ours"]:
        ratios = [r["ours"][key] / r["reference"][key] for r in with_ref]
        print(
            f"   {key:34s} {statistics.median(ratios):6.2f}  "
            f"(per case {[round(x, 2) for x in ratios]})"
        )
    print(
        "   neural-style's own published speed for 512 px, 500 L-BFGS iterations: 62 s on a "
        "Maxwell Titan X GPU, 30 s on a Pascal Titan X (README); ours above is on this CPU."
    )


if __name__ == "__main__":
    raise SystemExit(main())
