"""Benchmark: decaf's Gatys style transfer against the neural-style (VGG-19) reference pictures.

For each case (tubingen × starry_night, golden_gate × the_scream, tubingen × the_scream from
../shared/data when present, and the built-in default chelsea × swirl) it runs ``decaf.stylize``
at 512 px in a fresh process and records wall time, seconds per iteration at the full 512 px
size (median) and peak resident memory. It then scores every picture with *judge* networks the
optimiser did not use (EfficientNet-Lite2 and Lite1 when optimising with Lite0):

* style distance: mean over judge layers of the relative Gram error
  ‖G(out) − G(style)‖²/‖G(style)‖²,
  with output and style resized to 256 px (large strokes) and to 512 px (fine texture);
* content distance: relative feature error ‖F(out) − F(content)‖²/‖F(content)‖² at 512 px.

The same scores are computed for jcjohnson/neural-style's reference outputs (VGG-19, 512 px), so
each line prints ours next to the reference and their ratio (< 1 means ours is closer).

    python benchmarks/stylize_gatys.py [--repeats 3] [--cases tubingen_starry,...] [--json]

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

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
OUT = ROOT / "benchmarks" / "results"

JUDGE_STYLE_LAYERS = ("blocks.1", "blocks.2", "blocks.3", "blocks.4", "blocks.5")
JUDGE_CONTENT_LAYERS = ("blocks.3", "blocks.4")
JUDGES = ("efficientnet_lite2", "efficientnet_lite1")


@dataclass(frozen=True)
class Case:
    name: str
    content: str  # path or built-in photo name
    style: str  # path or built-in style name
    reference: str | None


def cases() -> list[Case]:
    out = []
    if SHARED.is_dir():
        ph, pa, ref = SHARED / "photos", SHARED / "paintings", SHARED / "reference"
        out += [
            Case(
                "tubingen_starry",
                str(ph / "tubingen.jpg"),
                str(pa / "starry_night.jpg"),
                str(ref / "ref_tubingen_starry.png"),
            ),
            Case(
                "golden_gate_scream",
                str(ph / "golden_gate.jpg"),
                str(pa / "the_scream.jpg"),
                str(ref / "ref_golden_gate_scream.png"),
            ),
            Case(
                "tubingen_scream",
                str(ph / "tubingen.jpg"),
                str(pa / "the_scream.jpg"),
                str(ref / "ref_tubingen_scream.png"),
            ),
        ]
    out.append(Case("default_chelsea_swirl", "chelsea", "swirl", None))
    return out


# --- the judge ---------------------------------------------------------------------------------
class Judge:
    """Scores pictures with a network the optimiser did not use."""

    def __init__(self, backbone: str) -> None:
        from decaf.zoo.encoder import Encoder

        layers = sorted(set(JUDGE_STYLE_LAYERS) | set(JUDGE_CONTENT_LAYERS))
        self.name = backbone
        self.ext = Encoder(backbone, layers)

    @torch.no_grad()
    def feats(self, img: Image.Image, long_side: int) -> dict[str, torch.Tensor]:
        w, h = img.size
        s = long_side / max(w, h)
        img = img.convert("RGB").resize((round(w * s), round(h * s)), Image.LANCZOS)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        return self.ext(x.contiguous())

    def style_distance(self, out: Image.Image, style: Image.Image, long_side: int) -> float:
        from decaf.stylize.losses import gram, relative_sq_error

        fo, fs = self.feats(out, long_side), self.feats(style, long_side)
        return float(
            np.mean(
                [float(relative_sq_error(gram(fo[n]), gram(fs[n]))) for n in JUDGE_STYLE_LAYERS]
            )
        )

    def content_distance(self, out: Image.Image, content: Image.Image) -> float:
        from decaf.stylize.losses import relative_sq_error

        fo, fc = self.feats(out, 512), self.feats(content, 512)
        return float(
            np.mean([float(relative_sq_error(fo[n], fc[n])) for n in JUDGE_CONTENT_LAYERS])
        )


def score(judges: list[Judge], out: Image.Image, case: Case) -> dict[str, float]:
    import decaf.stylize as st

    content = st.resolve_content(case.content)
    style = st.resolve_style(case.style)
    row: dict[str, float] = {}
    for j in judges:
        row[f"{j.name}.style256"] = j.style_distance(out, style, 256)
        row[f"{j.name}.style512"] = j.style_distance(out, style, 512)
        row[f"{j.name}.content"] = j.content_distance(out, content)
    return row


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
    return {
        "wall_s": wall,
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
    judges = [Judge(j) for j in JUDGES]
    records = []
    for case in chosen:
        out_path = OUT / f"{case.name}_{args.tag}.png"
        runs = [run_isolated(case, out_path, options) for _ in range(args.repeats)]
        rec: dict = {
            "case": case.name,
            "wall_s_median": statistics.median(r["wall_s"] for r in runs),
            "wall_s_all": [round(r["wall_s"], 2) for r in runs],
            "s_per_iter_median": statistics.median(r["s_per_iter_median"] for r in runs),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "iterations": runs[0]["iterations"],
            "size": runs[0]["size"],
            "ours": score(judges, Image.open(out_path), case),
        }
        if case.reference and Path(case.reference).is_file():
            rec["reference"] = score(judges, Image.open(case.reference), case)
        records.append(rec)
        if args.json:
            print(json.dumps(rec))
        else:
            print_case(rec)
    if not args.json:
        print_summary(records)
    return 0


def print_case(rec: dict) -> None:
    print(
        f"\n== {rec['case']}  {rec['size'][0]}×{rec['size'][1]}  "
        f"wall {rec['wall_s_median']:.1f} s (runs {rec['wall_s_all']})  "
        f"{rec['s_per_iter_median']:.3f} s/iter at full size (median)  {rec['iterations']} iters  "
        f"peak RSS {rec['peak_rss_mb_max']:.0f} MB"
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
