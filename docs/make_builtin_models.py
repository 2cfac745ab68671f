"""Train the built-in style models that ship in ``src/decaf/stylize/models/``.

* ``fast_builtin.pt`` (+ ``.onnx``): one CIN network over the four built-in procedural styles
  (swirl, mosaic, pointillism, hatching), what ``decaf stylize --method fast`` uses;
* ``paintings_builtin.pt`` (+ ``.onnx``): one CIN network over four public-domain paintings
  (The Starry Night, The Scream, The Shipwreck of the Minotaur, Woman with a Hat), what
  ``--method fast --builtin starry_night`` uses. The paintings are read from
  ``../shared/data/paintings`` (or ``--paintings DIR``) and are not shipped, only the weights.
  Its style is matched at 2 octaves (the output and the painting halved too: larger strokes)
  at style weight 60, first on 192-px crops, then trained further on 320-, 384- and 448-px
  crops against the paintings at 512 px, then on 448-px crops of at least 0.6 of a photo's
  short side, the last two with style layers down to ``blocks.4`` (``--paintings-tune``);
  both networks reflect-pad every convolution (no band of strokes along the borders);
* ``adain_lite0.pt``: an AdaIN decoder on EfficientNet-Lite0 features (up to ``blocks.2``),
  what ``decaf stylize --method adain`` uses, trained on the procedural styles plus the texture
  and colour pictures that ship with scikit-image (no download);
* ``wct_lite0.pt``: universal style transfer (whitening and colouring of EfficientNet-Lite0
  features at ``blocks.2``, then at ``bn1``), what ``decaf stylize --method wct`` uses. The
  ``blocks.2`` decoder is *styled*: it starts from the AdaIN decoder and learns to draw styles
  from whitened-and-coloured features of a varied style pool (64 procedural paintings at random
  seeds and sizes, the textures, random palettes, turns and crop scales; never the paintings
  above). Three reconstruction decoders (``blocks.4``, ``blocks.2``, ``bn1``) are trained to
  reconstruct pictures from their level's features (the offline photos and the same textures,
  with hard colour jitter); the bundle keeps the ``bn1`` one. ``--wct-reconstruction BUNDLE``
  reuses an earlier bundle's ``bn1`` decoder instead (the shipped one was made so on
  2026-12-02, from the bundle shipped before). See ``compose_wct``.

Content pictures are the offline photos of scikit-image and scikit-learn with heavy random
crops, scales and flips. Everything runs through the public CLI, so this is also a worked
example of ``decaf train style``. On 2 CPU cores the painting network's seven phases take
about 105 minutes (2026-12-04: 13 min, 10-13 min for each of the next three, 17-20 min for
each of the last three).

    python docs/make_builtin_models.py [--fast-iters 3000] [--adain-iters 3000]
        [--adain-level blocks.2] [--adain-width 16] [--adain-style-size 256] [--adain-varied]
        [--paintings-iters 3000] [--paintings-width 16] [--paintings-size 192]
        [--paintings-style-size 384]
        [--paintings-octaves 2] [--paintings-style-weight 60] [--fast-pad reflect]
        [--paintings-pad reflect] [--paintings-style-layers L,...]
        [--paintings-content-layers L,...] [--paintings-dilations 1,2,4,2,1]
        [--paintings-stats-weight W] [--paintings-random-weight W] [--paintings-seed N]
        [--paintings-content-weight 6] [--paintings-tv-weight 10]
        [--paintings-tune SIZE:STYLE_SIZE:ITERS[:CROP_SCALE[:DEEPEST]],...  (default: TUNE)]
        [--paintings-from B]
        [--paintings-style-layer-weights 32,32,16,4,1]
        [--paintings-teacher-weight W [--paintings-teachers DIR]
         [--paintings-teacher-match gram] [--paintings-teacher-layers L,...]]
        [--wct-iters 2000] [--wct-styled-iters 2500] [--wct-styled-fine-iters 1500]
        [--wct-octave-iters 0] [--wct-reconstruction BUNDLE] [--wct-styled-from BUNDLE]
        [--wct-level blocks.2]
        [--only fast|adain|paintings|wct]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import skimage.data
from PIL import Image

from decaf.cli import main as decaf

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "src" / "decaf" / "stylize" / "models"
RUNS = ROOT / "out" / "builtin_runs"  # snapshots and metrics.csv (not shipped)
PROCEDURAL = ("swirl", "mosaic", "pointillism", "hatching")
#: the painting network's fine-tuning phases (SIZE:STYLE_SIZE:ITERS[:CROP_SCALE[:DEEPEST]])
TUNE = (
    "320:512:800,384:512:600,448:512:500,"
    "448:512:500:0.6,448:512:500:0.6:blocks.4,448:512:500:0.6:blocks.4"
)
#: built-in style name → painting file in --paintings
PAINTINGS = {
    "starry_night": "starry_night.jpg",
    "the_scream": "the_scream.jpg",
    "shipwreck": "shipwreck.jpg",
    "woman_with_hat": "woman-with-hat-matisse.jpg",
}
# alphabetical: the order the shipped decoder was trained with (style k is sampled by index)
TEXTURES = ("brick", "colorwheel", "grass", "gravel", "hubble_deep_field", "immunohistochemistry")


def run(argv: list[str]) -> None:
    print("decaf " + " ".join(argv), flush=True)
    code = decaf(argv)
    if code != 0:
        sys.exit(code)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast-iters", type=int, default=3000)
    ap.add_argument("--fast-pad", default="reflect", help="zeros | reflect (every conv)")
    ap.add_argument("--adain-iters", type=int, default=3000)
    ap.add_argument("--adain-level", default="blocks.2", help="where AdaIN's encoder ends")
    ap.add_argument("--adain-width", default="16", help="the AdaIN decoder's width")
    ap.add_argument("--adain-style-size", default="256")
    ap.add_argument("--adain-varied", action="store_true",
                    help="style crops from the varied pool (64 procedural paintings, random "
                    "palettes, turns and crop scales), as the styled WCT level's")  # fmt: skip
    ap.add_argument("--paintings-iters", type=int, default=3000)
    ap.add_argument("--paintings-width", type=int, default=16)
    ap.add_argument("--paintings-size", type=int, default=192, help="training crop side")
    # 384 measured closer to the paintings than 256 or 512 (benchmarks/paintings_width.py)
    ap.add_argument("--paintings-style-size", type=int, default=384)
    # reflect: no bands of strokes along the borders (measured in docs/stylize_fast.md)
    ap.add_argument("--paintings-pad", default="reflect", help="zeros | reflect (every conv)")
    ap.add_argument("--paintings-octaves", type=int, default=2, help="style octaves (1-3)")
    ap.add_argument("--paintings-style-weight", default="60")
    ap.add_argument("--paintings-style-layers", default="", help="default: decaf train style's")
    ap.add_argument("--paintings-content-layers", default="", help="default: decaf train style's")
    ap.add_argument("--paintings-dilations", default="", help="per residual block, e.g. 1,2,4,2,1")
    ap.add_argument("--paintings-stats-weight", default="", help="mean/std term (default 0)")
    ap.add_argument("--paintings-random-weight", default="", help="random filters (default 0)")
    ap.add_argument(
        "--paintings-teacher-weight",
        default="",
        help="learn from Gatys pictures of the paintings on the offline photos",
    )
    ap.add_argument("--paintings-content-weight", default="6")
    ap.add_argument("--paintings-tv-weight", default="10")
    ap.add_argument("--paintings-from", type=Path,
                    help="start the --paintings-tune phases from this painting bundle instead "
                    "of a first phase")  # fmt: skip
    # fine-tuning on ever larger crops, the paintings at 512 px: closer on all 8 style medians
    # than the first phase alone; then crops of at least 0.6 of a photo's short side, and
    # style layers down to blocks.4 (benchmarks/paintings_width.py, 2026-12-04;
    # docs/stylize_fast.md)
    ap.add_argument("--paintings-tune", default=TUNE,
                    help="fine-tuning phases after the first, SIZE:STYLE_SIZE:ITERS"
                    "[:CROP_SCALE[:DEEPEST]],... ('' for none; default %(default)s)")  # fmt: skip
    ap.add_argument("--paintings-style-layer-weights", default="", help="default: all 1")
    ap.add_argument("--paintings-seed", default="", help="training seed (default decaf's, 0)")
    ap.add_argument("--paintings-teacher-match", default="", help="features | gram")
    ap.add_argument("--paintings-teacher-layers", default="", help="default: decaf's")
    ap.add_argument("--paintings-teachers", type=Path,
                    help="where those Gatys pictures are (made when missing; default RUNS/"
                    "paintings_teachers)")  # fmt: skip
    ap.add_argument("--paintings", type=Path, default=ROOT.parent / "shared" / "data" / "paintings")
    ap.add_argument("--wct-iters", type=int, default=2000)
    ap.add_argument("--wct-styled-iters", type=int, default=2500)
    ap.add_argument("--wct-styled-fine-iters", type=int, default=1500)
    ap.add_argument(
        "--wct-octave-iters",
        type=int,
        default=0,
        help="a third styled phase, its style also matched at 2 octaves (measured level with "
        "the shipped bundle, hence 0: none)",
    )
    ap.add_argument(
        "--wct-styled-from",
        type=Path,
        help="a WCT bundle whose styled decoder the third phase continues",
    )
    ap.add_argument("--wct-level", default="blocks.2",
                    help="the styled level (blocks.2: from the AdaIN decoder; another level's "
                    "decoder starts fresh)")  # fmt: skip
    ap.add_argument("--wct-reconstruction", type=Path,
                    help="reuse this bundle's bn1 decoder instead of training the reconstruction "
                    "decoders (e.g. a copy of the shipped wct_lite0.pt)")  # fmt: skip
    ap.add_argument("--only", choices=("fast", "adain", "paintings", "wct"))
    ap.add_argument("--out", type=Path, default=MODELS, help="where the bundles go")
    ap.add_argument("--runs", type=Path, default=RUNS, help="snapshots and metrics.csv")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs.mkdir(parents=True, exist_ok=True)
    if args.only == "paintings":
        paintings(args)
        return 0
    if args.only in (None, "fast"):
        fast = args.out / "fast_builtin.pt"
        run(["train", "style", "--method", "cin", "--style", ",".join(PROCEDURAL),
             "--iters", str(args.fast_iters), "--size", "192", "--style-size", "256",
             "--pad", args.fast_pad, "--content-weight", "6", "--style-weight", "30",
             "--tv-weight", "10",
             "--run-dir", str(args.runs / "fast"), "-o", str(fast)])  # fmt: skip
        run(["export", "onnx", "--model", str(fast), "-o", str(fast.with_suffix(".onnx"))])
    if args.only in (None, "adain"):
        with tempfile.TemporaryDirectory() as tmp:
            varied = ["--varied-styles", "--painters", "64"] if args.adain_varied else []
            run(["train", "style", "--method", "adain", "--style", ",".join(_textures(tmp)),
                 "--iters", str(args.adain_iters), "--size", "192",
                 "--style-size", args.adain_style_size, "--levels", args.adain_level,
                 "--width", args.adain_width, *varied,
                 "--content-weight", "1", "--style-weight", "20", "--run-dir",
                 str(args.runs / "adain"), "-o", str(args.out / "adain_lite0.pt")])  # fmt: skip
    if args.only in (None, "wct"):
        wct(args)
    return 0


def wct(args: argparse.Namespace) -> None:
    """The WCT bundle: the reconstruction decoders (unless ``--wct-reconstruction``), then the
    styled ``blocks.2`` decoder in phases from the AdaIN decoder (or, with
    ``--wct-styled-from``, only the last phase, from that bundle's styled decoder)."""
    trained = args.wct_reconstruction or args.runs / "wct_reconstruction.pt"
    # (updates, learning rate, style octaves, seed): 2500 at 1e-3 from the AdaIN decoder, 1500
    # at 3e-4 (closer on 5 of the 8 judge medians than the first phase alone, content
    # 1.08 → 1.03); a third at 2 octaves measured level, so it is off by default
    phases = [(args.wct_styled_iters, "0.001", 1, 0), (args.wct_styled_fine_iters, "0.0003", 1, 2),
              (args.wct_octave_iters, "0.0003", 2, 4)]  # fmt: skip
    level = args.wct_level
    base: Path | None = MODELS / "adain_lite0.pt" if level == "blocks.2" else None
    if args.wct_styled_from is not None:
        base, phases = args.wct_styled_from, phases[2:]
    with tempfile.TemporaryDirectory() as tmp:
        textures = ",".join(_textures(tmp))
        if args.wct_reconstruction is None:
            run(["train", "style", "--method", "wct", "--style", textures,
                 "--iters", str(args.wct_iters), "--size", "128", "--batch", "8",
                 "--width", "16", "--content-weight", "1", "--run-dir",
                 str(args.runs / "wct"), "-o", str(trained)])  # fmt: skip
        for k, (iters, lr, octaves, seed) in enumerate(phases):
            if iters <= 0:
                continue
            out = args.runs / f"wct_styled{k + 1}.pt"
            start = ["--base", str(base)] if base is not None else []
            run(["train", "style", "--method", "wct", "--style", textures, "--levels",
                 level, "--styled-level", level, *start,
                 "--painters", "64", "--seed", str(seed), "--iters", str(iters), "--lr", lr,
                 "--style-octaves", str(octaves),
                 "--size", "192", "--style-size", "384", "--batch", "4", "--width", "16",
                 "--content-weight", "1", "--style-weight", "20", "--tv-weight", "1",
                 "--run-dir", str(args.runs / out.stem), "-o", str(out)])  # fmt: skip
            base = out
    if base is None:
        sys.exit("no styled phase ran (all their --wct-*-iters are 0)")
    compose_wct(trained, base, args.out / "wct_lite0.pt", level)


def compose_wct(trained: Path, styled: Path, out: Path, level: str = "blocks.2") -> None:
    """The shipped WCT bundle: two levels, ``blocks.2`` decoded by the styled decoder (the AdaIN
    decoder fine-tuned on whitened-and-coloured features of a varied style pool, with style
    losses) and ``bn1`` by its reconstruction decoder. Measured on the 8 painting pairs
    (docs/stylize_fast.md), the three reconstruction decoders alone (``blocks.4``, ``blocks.2``,
    ``bn1``; 2000 steps) were blurrier and farther from the paintings than AdaIN's decoder, which
    draws texture that a decoder trained only to reconstruct does not."""
    from decaf.core.bundle import load_bundle, save_bundle

    wct, sty = load_bundle(trained, task="stylize"), load_bundle(styled, task="stylize")
    if sty["config"].get("wct_styled") != level:
        sys.exit(f"{styled}: not a WCT decoder styled at {level}")
    state = {k: v for k, v in wct["state_dict"].items() if k.startswith("decoders.bn1.")}
    state.update(sty["state_dict"])
    config = {**wct["config"], "wct_levels": [level, "bn1"]}
    provenance = {"bn1": f"{trained.name}: reconstruction only", level: styled.name}
    save_bundle({**wct, "state_dict": state, "config": config, "provenance": provenance}, out)
    print(f"wrote {out} ({level}: the styled decoder; bn1: reconstruction)")


def _textures(tmp: str) -> list[str]:
    """The procedural styles' names and the scikit-image textures written as files in ``tmp``."""
    styles = list(PROCEDURAL)
    for name in TEXTURES:
        arr = getattr(skimage.data, name)()
        path = Path(tmp) / f"{name}.png"
        Image.fromarray(np.asarray(arr)).convert("RGB").save(path)
        styles.append(str(path))
    return styles


def _given(flag: str, value: str) -> list[str]:
    """``[flag, value]`` when a value was given, else nothing (decaf's default holds)."""
    return [flag, value] if value else []


def _teachers(args: argparse.Namespace) -> list[str]:
    """With ``--paintings-teacher-weight``: the ``--teacher`` flags, after making the Gatys
    pictures of each painting on each offline photo at 512 px that are not there yet
    (``STYLE/PHOTO.png``; about 25 s each, 52 in all)."""
    if not args.paintings_teacher_weight:
        return []
    import decaf.stylize as st
    from decaf.stylize.train import offline_photos

    root = args.paintings_teachers or args.runs / "paintings_teachers"
    photos = offline_photos()
    for name, file in PAINTINGS.items():
        style = Image.open(args.paintings / file).convert("RGB")
        (root / name).mkdir(parents=True, exist_ok=True)
        for photo, pic in photos.items():
            dest = root / name / f"{photo}.png"
            if not dest.is_file():
                st.stylize(pic, style, size=512).save(dest)
                print(f"wrote {dest}", flush=True)
    return [
        "--teacher",
        str(root),
        "--teacher-weight",
        args.paintings_teacher_weight,
        *_given("--teacher-match", args.paintings_teacher_match),
        *_given("--teacher-layers", args.paintings_teacher_layers),
    ]


def paintings(args: argparse.Namespace) -> None:
    """One CIN network over the four paintings, each copied under its built-in name (the
    bundle's style names come from the file names): a first phase on small crops (or
    ``--paintings-from B``), then the ``--paintings-tune`` phases, each training all of the
    previous phase's network further on larger crops and larger style targets."""
    missing = [f for f in PAINTINGS.values() if not (args.paintings / f).is_file()]
    if missing:
        sys.exit(f"{args.paintings}: missing {', '.join(missing)}")
    out = args.out / "paintings_builtin.pt"
    runs = args.runs / f"paintings_w{args.paintings_width}"
    runs.mkdir(parents=True, exist_ok=True)  # the phases' bundles go here, not only run dirs
    phases = _tune_phases(args.paintings_tune)
    with tempfile.TemporaryDirectory() as tmp:
        styles = []
        for name, file in PAINTINGS.items():
            path = Path(tmp) / f"{name}.jpg"
            path.write_bytes((args.paintings / file).read_bytes())
            styles.append(str(path))
        common = ["train", "style", "--method", "cin", "--style", ",".join(styles),
                  "--width", str(args.paintings_width), "--pad", args.paintings_pad,
                  "--style-octaves", str(args.paintings_octaves),
                  "--content-weight", args.paintings_content_weight,
                  "--style-weight", args.paintings_style_weight,
                  "--tv-weight", args.paintings_tv_weight,
                  *_given("--content-layers", args.paintings_content_layers),
                  *_given("--dilations", args.paintings_dilations),
                  *_given("--stats-weight", args.paintings_stats_weight),
                  *_given("--random-weight", args.paintings_random_weight),
                  *_given("--seed", args.paintings_seed),
                  *_given("--style-layer-weights", args.paintings_style_layer_weights),
                  *_teachers(args)]  # fmt: skip
        prev = args.paintings_from
        if prev is None:
            prev = runs / "phase0.pt" if phases else out
            run([*common, *_given("--style-layers", args.paintings_style_layers),
                 "--iters", str(args.paintings_iters),
                 "--size", str(args.paintings_size),
                 "--style-size", str(args.paintings_style_size),
                 "--run-dir", str(runs / "phase0"), "-o", str(prev)])  # fmt: skip
        for k, phase in enumerate(phases, 1):
            dest = out if k == len(phases) else runs / f"phase{k}.pt"
            layers = phase.style_layers() or args.paintings_style_layers
            run([*common, *_given("--style-layers", layers), "--base", str(prev), "--finetune",
                 "--iters", str(phase.iters), "--size", str(phase.size),
                 "--style-size", str(phase.style_size), "--crop-scale", str(phase.crop_scale),
                 "--run-dir", str(runs / f"phase{k}"), "-o", str(dest)])  # fmt: skip
            prev = dest
    run(["export", "onnx", "--model", str(out), "-o", str(out.with_suffix(".onnx"))])


#: EfficientNet-Lite0's stages in order, for a phase's deepest style layer
LITE0_STAGES = ("conv_stem", *(f"blocks.{i}" for i in range(7)))


class Phase(NamedTuple):
    """One fine-tuning phase: crop side, style side, updates, the smallest content crop (a
    share of a photo's short side) and the deepest style layer ('' for the run's layers)."""

    size: int
    style_size: int
    iters: int
    crop_scale: float = 0.25
    deepest: str = ""

    def style_layers(self) -> str:
        """Lite0's stages up to the deepest, as ``--style-layers`` takes them ('' if none)."""
        if not self.deepest:
            return ""
        return ",".join(LITE0_STAGES[: LITE0_STAGES.index(self.deepest) + 1])


def _tune_phases(text: str) -> list[Phase]:
    """``SIZE:STYLE_SIZE:ITERS[:CROP_SCALE[:DEEPEST]],...``, one :class:`Phase` each."""
    phases = []
    for part in filter(None, text.split(",")):
        fields = part.split(":")
        try:
            phase = Phase(*(int(v) for v in fields[:3]), *map(float, fields[3:4]), *fields[4:5])
            ok = len(fields) <= 5 and phase.deepest in ("", *LITE0_STAGES)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            sys.exit(f"--paintings-tune: SIZE:STYLE_SIZE:ITERS[:CROP_SCALE[:DEEPEST]],... "
                     f"(DEEPEST one of {', '.join(LITE0_STAGES)}), got {part!r}")  # fmt: skip
        phases.append(phase)
    return phases


if __name__ == "__main__":
    sys.exit(main())
