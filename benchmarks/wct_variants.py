"""Benchmark: which levels and decoders universal style transfer should use, on real paintings.

Each variant is a plan of levels run deep to shallow (``--method wct`` runs the shipped plan,
``blocks.2`` with the AdaIN decoder then ``bn1``). A level is whitening and colouring of the
features of the previous level's picture, decoded by:

* ``blocks.4``, ``blocks.2``, ``bn1``: the reconstruction decoders of ``--reconstruction``
  (``docs/make_builtin_models.py --only wct`` leaves them in out/builtin_runs);
* ``adain``: the built-in AdaIN decoder, at its own level ``blocks.2``;
* ``rgb``: no network, the transform applied to the pixels (a full colour transfer).

Every variant stylizes the 4 paintings × 2 photos of ../shared/data at 512 px and is judged by
benchmarks/judges.py against decaf's Gatys picture of the same pair (read from
benchmarks/results, which ``benchmarks/stylize_fast.py --paintings`` writes): medians of the
ratios over the 8 pairs, per judge, depth and scale.

Whole WCT or AdaIN bundles (``--bundles``: the shipped WCT one by default, and e.g. a
candidate that ``docs/make_builtin_models.py --only wct --out DIR`` wrote) are judged the same
way, as ``decaf stylize --method wct|adain -m BUNDLE`` runs them; the plans that need the
reconstruction decoders are skipped when their bundle is absent.

    python benchmarks/wct_variants.py [--reconstruction out/builtin_runs/wct_reconstruction.pt]
        [--bundles shipped,out/candidates/wct_lite0.pt,shipped@256] [--per-pair] [--no-plans]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import busy  # noqa: F401  (before torch: it chooses torch's thread settings)
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judges import judges, score_all  # noqa: E402
from stylize_fast import _square, gatys_picture, painting_pairs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: variant → [(decoder, alpha), ...], deep to shallow
PLANS = {
    "adain (the AdaIN method itself)": [],
    "wct adain": [("adain", 1.0)],
    "wct adain, rgb": [("adain", 1.0), ("rgb", 1.0)],
    "wct blocks.4, blocks.2, bn1 (reconstruction only)": [
        ("blocks.4", 1.0), ("blocks.2", 1.0), ("bn1", 1.0)],
    "wct blocks.4 (alpha 0.5), blocks.2, bn1": [("blocks.4", 0.5), ("blocks.2", 1.0), ("bn1", 1.0)],
    "wct blocks.2, bn1 (reconstruction only)": [("blocks.2", 1.0), ("bn1", 1.0)],
    "wct adain, bn1 (shipped)": [("adain", 1.0), ("bn1", 1.0)],
    "wct adain, bn1, rgb": [("adain", 1.0), ("bn1", 1.0), ("rgb", 1.0)],
}  # fmt: skip


def _level(kind: str, x: torch.Tensor, style: torch.Tensor, alpha: float, nets: dict
           ) -> torch.Tensor:  # fmt: skip
    from decaf.stylize import wct
    from decaf.stylize.nets import pad_to_multiple

    if kind == "rgb":
        return wct.transform(wct.moments(x), [wct.moments(style)], [1.0], alpha)(x).clamp(0, 1)
    if kind == "adain":
        net = nets["adain"].net
        f = net.encode(pad_to_multiple(x, net.stride))
        t = wct.transform(wct.moments(f), [wct.moments(net.encode(style))], [1.0], alpha)(f)
        return net.decode(t)[..., : x.shape[-2], : x.shape[-1]]
    rec = nets["wct"]
    looks = [wct.moments(rec.net.encode(kind, style))]
    return rec._wct_level(kind, x, looks, [1.0], alpha, None, None)


def run(plan: list[tuple[str, float]] | str, content: Image.Image, style: Image.Image,
        nets: dict) -> Image.Image:  # fmt: skip
    """A plan of levels, or (a string) a whole bundle's own plan."""
    from decaf.core.tensors import picture_tensor, resize_long_side, to_pil

    if isinstance(plan, str):  # BUNDLE, BUNDLE@WORK_SIZE or BUNDLE@WORK_SIZEup (upscale)
        bundle, _, work = plan.partition("@")
        up = work.endswith("up")
        size = int(work.removesuffix("up")) if work else None
        return nets[bundle](content, style_images=[style], work_size=size, upscale=up)
    if not plan:
        return nets["adain"](content, style_images=[style])
    with torch.inference_mode():
        s = picture_tensor(resize_long_side(style, 512))
        x = picture_tensor(content)
        for kind, alpha in plan:
            x = _level(kind, x, s, alpha, nets)
    return to_pil(x)


RECONSTRUCTION = ("blocks.4", "blocks.2", "bn1")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reconstruction", type=Path,
                    default=ROOT / "out" / "builtin_runs" / "wct_reconstruction.pt")  # fmt: skip
    ap.add_argument("--bundles", default="shipped",
                    help="WCT bundles judged whole, comma list; BUNDLE@N: work size N; "
                         "BUNDLE@Nup: every level at N, scaled up")  # fmt: skip
    ap.add_argument("--no-plans", action="store_true", help="judge only the --bundles")
    ap.add_argument("--per-pair", action="store_true", help="also print every pair's ratios")
    args = ap.parse_args()
    from decaf.stylize.predict import FastStylizer

    nets = {"adain": FastStylizer(method="adain", engine="torch")}
    plans: dict[str, list[tuple[str, float]] | str] = {} if args.no_plans else dict(PLANS)
    if args.reconstruction.is_file():
        nets["wct"] = FastStylizer(args.reconstruction, method="wct")
    else:
        print(
            f"{args.reconstruction}: absent, so the plans with reconstruction decoders are "
            "skipped (docs/make_builtin_models.py --only wct trains them)",
            file=sys.stderr,
        )
        plans = {k: p for k, p in plans.items()
                 if not any(kind in RECONSTRUCTION for kind, _ in p)}  # fmt: skip
    for b in filter(None, args.bundles.split(",")):
        path = b.partition("@")[0]
        if path not in nets:
            nets[path] = _stylizer(path)
        plans[f"bundle {b}"] = b
    ratios = judge(plans, nets)
    keys = list(next(iter(next(iter(ratios.values())).values())))
    print("| variant | " + " | ".join(k.replace("style.", "") for k in keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, rows in ratios.items():
        cells = [f"{statistics.median(r[k] for r in rows.values()):.2f}" for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.per_pair:
        for name, rows in ratios.items():
            print(f"\n{name}\n\n| pair | " + " | ".join(keys) + " |")
            print("|---" * (len(keys) + 1) + "|")
            for pair, r in rows.items():
                print(f"| {pair} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    return 0


def _stylizer(path: str):
    """The shipped WCT bundle, or a WCT or AdaIN bundle's file, as ``decaf stylize`` runs it."""
    from decaf.core.bundle import load_bundle
    from decaf.stylize.predict import FastStylizer

    if path == "shipped":
        return FastStylizer(method="wct")
    method = load_bundle(Path(path), task="stylize")["arch"]
    if method not in ("wct", "adain"):
        sys.exit(f"{path}: a {method} bundle; this benchmark judges wct and adain bundles")
    return FastStylizer(Path(path), method=method)


def judge(plans: dict, nets: dict) -> dict[str, dict[str, dict[str, float]]]:
    """``{variant: {pair: {score: ratio to Gatys}}}`` over the 8 painting pairs."""
    js = judges()
    ratios: dict[str, dict[str, dict[str, float]]] = {name: {} for name in plans}
    for pair, content, style, _ in painting_pairs():
        content = _square(content, 512)
        ref = score_all(js, gatys_picture(pair), style, content)
        for name, plan in plans.items():
            got = score_all(js, run(plan, content, style, nets), style, content)
            ratios[name][pair] = {k: got[k] / ref[k] for k in ref}
        print(f"{pair}: done", file=sys.stderr)
    return ratios


if __name__ == "__main__":
    sys.exit(main())
