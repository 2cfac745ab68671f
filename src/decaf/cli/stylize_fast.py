"""``decaf train style`` and ``decaf export onnx``: the feed-forward style networks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from decaf.cli.common import (
    DeviceOpt,
    JsonOpt,
    ResumeOpt,
    SeedOpt,
    SnapshotOpt,
    emit,
    export_app,
    option,
    sigterm_as_interrupt,
    split_list,
    stop_if_interrupted,
    train_app,
)
from decaf.core.errors import OptionError


@export_app.command("onnx")
def export_onnx_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="The .onnx file to write.")],
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="A fast/CIN/AdaIN bundle (default: the built-in one)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A style network as ONNX: fast/CIN (inputs image, style) or AdaIN (image, mean, std,
    alpha); H and W must be multiples of 8.

    Example:

      decaf export onnx -m painting.pt -o painting.onnx
    """
    from decaf.stylize.predict import export_bundle

    info = export_bundle(model, output)
    emit(info, f"wrote {output} (styles: {', '.join(info['styles'])})", as_json)


StylesOpt = option(str, "Style pictures or built-in names, comma-separated.", "--style", "-s")
OutOpt = option(Path, "Bundle to write (.pt).", "--output", "-o")
MethodOpt = option(
    str,
    "fast | cin | stylebank | adain | wct (wct: decoders that reconstruct, the "
    "styles being more pictures; with --styled-level one learns to draw styles).",
)
ContentOpt = option(Path | None, "Folder of content pictures (default: offline photos).")
BaseOpt = option(
    Path | None,
    "cin/stylebank: extend this bundle with the new styles; wct: start "
    "from this bundle's decoders.",
)
FinetuneOpt = option(
    bool,
    "fast/cin/stylebank: train all of --base further on its own styles (same order).",
)
LevelsOpt = option(
    str | None,
    "wct: levels with a decoder, deep first, comma-separated; adain: the one stage where the "
    "encoder ends (default blocks.2).",
)
VariedOpt = option(
    bool,
    "adain: style crops from a varied pool (the styles plus --painters procedural paintings, "
    "random palettes, turns and crop scales), as the styled wct level has.",
)
StyledOpt = option(
    str,
    "wct: the level whose decoder learns to draw styles (WCT of a varied style "
    "pool, style losses) instead of reconstructing.",
)
PaintersOpt = option(
    int, "wct --styled-level, adain --varied-styles: procedural paintings added to the styles."
)
ItersOpt = option(int, "Updates (0.5 s each at 256 px on 2 idle CPU cores).")
SizeOpt = option(int, "Training crop side in pixels (smaller is much faster).")
PadOpt = option(str, "fast/cin: zeros | reflect (reflect: no bands along borders).")
RunDirOpt = option(Path | None, "Snapshots and metrics.csv (default: OUTPUT.run/).")
BatchOpt = option(int, "Crops per update.")
StyleSizeOpt = option(int, "Long side of the style pictures.")
LrOpt = option(float, "Adam learning rate.")
StyleWOpt = option(float, "Style loss weight.")
ContentWOpt = option(float, "Content loss weight.")
TvWOpt = option(float, "Total variation weight.")
StatsWOpt = option(
    float, "fast/cin/stylebank: weight of a channel mean/std term beside each style Gram."
)
RandomWOpt = option(
    float, "fast/cin/stylebank: weight of a Gram term on untrained random filters (no family)."
)
TeacherOpt = option(
    Path | None,
    "fast/cin: other methods' results to learn from, DIR/STYLE/NAME.png for the content "
    "picture NAME (a file in --content, or an offline photo) in the style STYLE.",
)
TeacherWOpt = option(float, "fast/cin: weight of the --teacher results' term (features or Grams).")
TeacherMatchOpt = option(
    str, "fast/cin --teacher: features (the result's maps) | gram (their Gram matrices)."
)
TeacherLayersOpt = option(
    str | None,
    "fast/cin --teacher: the loss network's layers compared (default blocks.2,blocks.3).",
)
CropScaleOpt = option(
    float,
    "The smallest content crop, a share of the picture's short side (each crop 1 down to this, "
    "scaled to --size; near 1: most of a photo, as stylizing sees it).",
)
WidthOpt = option(int, "Channel width of the network.")
DilationsOpt = option(
    str | None, "fast/cin: one dilation per residual block, e.g. 1,2,4,2,1 (a wider view)."
)
OctavesOpt = option(
    int, "fast/cin/stylebank, wct --styled-level: match the style at 1-3 octaves (larger strokes)."
)
StyleLayersOpt = option(
    str | None,
    "fast/cin/stylebank, wct --styled-level: the loss network's style layers, comma-separated "
    "(default conv_stem,blocks.0,blocks.1,blocks.2,blocks.3).",
)
StyleLayerWOpt = option(
    str | None,
    "fast/cin/stylebank: one weight per style layer, comma-separated (e.g. 32,32,16,4,1, "
    "Gatys's; default all 1).",
)
ContentLayersOpt = option(
    str | None,
    "fast/cin/stylebank: the loss network's content layers, comma-separated (default blocks.2).",
)


@train_app.command("style")
def train_style_command(
    style: StylesOpt,
    output: OutOpt,
    method: MethodOpt = "fast",
    content: ContentOpt = None,
    base: BaseOpt = None,
    finetune: FinetuneOpt = False,
    levels: LevelsOpt = None,
    styled_level: StyledOpt = "",
    painters: PaintersOpt = 64,
    varied_styles: VariedOpt = False,
    iters: ItersOpt = 2000,
    batch: BatchOpt = 4,
    size: SizeOpt = 256,
    style_size: StyleSizeOpt = 256,
    crop_scale: CropScaleOpt = 0.25,
    lr: LrOpt = 1e-3,
    style_weight: StyleWOpt = 30.0,
    content_weight: ContentWOpt = 1.0,
    tv_weight: TvWOpt = 10.0,
    stats_weight: StatsWOpt = 0.0,
    random_weight: RandomWOpt = 0.0,
    teacher: TeacherOpt = None,
    teacher_weight: TeacherWOpt = 0.0,
    teacher_match: TeacherMatchOpt = "features",
    teacher_layers: TeacherLayersOpt = None,
    width: WidthOpt = 16,
    pad: PadOpt = "zeros",
    dilations: DilationsOpt = None,
    style_octaves: OctavesOpt = 1,
    style_layers: StyleLayersOpt = None,
    style_layer_weights: StyleLayerWOpt = None,
    content_layers: ContentLayersOpt = None,
    seed: SeedOpt = 0,
    snapshot: SnapshotOpt = 0,
    resume: ResumeOpt = None,
    run_dir: RunDirOpt = None,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Train a feed-forward style network (or an AdaIN decoder) on the shared engine.

    The default 2000 updates of 4 crops at 256 px took 0.5 s each on 2 idle CPU cores (about
    17 minutes; a busy machine is slower); for a first look, --iters 300 --size 192 takes
    about 2 minutes (0.3 s per update).

    Examples:

      decaf train style -s painting.jpg -o painting.pt --iters 300 --size 192

      decaf train style -s mosaic,swirl --method cin -o two.pt

      decaf train style -s swirl --method wct --levels blocks.2 --styled-level blocks.2 -o d.pt
    """
    from decaf.stylize.train import FastOptions, train_style_files

    opts = FastOptions(method=method, iters=iters, batch=batch, size=size, style_size=style_size,
                       crop_scale=crop_scale, lr=lr, style_weight=style_weight,
                       content_weight=content_weight, tv_weight=tv_weight,
                       stats_weight=stats_weight,
                       random_weight=random_weight, teacher_weight=teacher_weight,
                       teacher_match=teacher_match,
                       width=width, seed=seed,
                       snapshot_interval=snapshot, device=device, wct_styled=styled_level,
                       painters=painters, varied_styles=varied_styles, pad=pad,
                       finetune=finetune,
                       style_octaves=style_octaves,
                       dilations=tuple(split_list(dilations, int, "--dilations") or ()),
                       style_layer_weights=tuple(split_list(style_layer_weights, float,
                                                            "--style-layer-weights") or ()),
                       **_levels(method, levels),
                       **_layers(style_layers, content_layers, teacher_layers))  # fmt: skip
    with sigterm_as_interrupt():
        summary = train_style_files(split_list(style, str, "--style") or [], output, opts,
                                    content, teacher, base=base, run_dir=run_dir, resume=resume,
                                    progress=not as_json)  # fmt: skip
    stop_if_interrupted(summary, as_json)
    styles = ", ".join(summary["styles"])
    emit(summary, f"wrote {output} after {summary['iterations']} iterations "
         f"({summary['seconds']:.0f} s; styles {styles})", as_json)  # fmt: skip


def _levels(method: str, levels: str | None) -> dict[str, Any]:
    """FastOptions' level fields for --levels: WCT's decoder levels, or AdaIN's encoder cut."""
    names = tuple(split_list(levels, str, "--levels") or ())
    if not names:
        return {}
    if method != "adain":
        return {"wct_levels": names}
    if len(names) != 1:
        raise OptionError(f"--levels: adain has one level (where its encoder ends), got {levels}")
    return {"adain_layer": names[0]}


def _layers(style: str | None, content: str | None, teacher: str | None = None
            ) -> dict[str, tuple[str, ...]]:  # fmt: skip
    """FastOptions' layer fields for the layers given (the defaults for those not)."""
    out = {}
    for field, value, flag in (("style_layers", style, "--style-layers"),
                               ("content_layers", content, "--content-layers"),
                               ("teacher_layers", teacher, "--teacher-layers")):  # fmt: skip
        names = split_list(value, str, flag)
        if names:
            out[field] = tuple(names)
    return out
