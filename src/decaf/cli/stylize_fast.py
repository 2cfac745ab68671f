"""``decaf train style`` and ``decaf export onnx``: the feed-forward style networks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import (
    DeviceOpt,
    JsonOpt,
    ResumeOpt,
    SeedOpt,
    SnapshotOpt,
    emit,
    export_app,
    sigterm_as_interrupt,
    split_list,
    stop_if_interrupted,
    train_app,
)


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


@train_app.command("style")
def train_style_command(
    style: Annotated[
        str,
        typer.Option("--style", "-s", help="Style pictures or built-in names, comma-separated."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle to write (.pt).")],
    method: Annotated[
        str,
        typer.Option(
            help="fast | cin | stylebank | adain | wct (wct: decoders that reconstruct, the "
            "styles being more pictures; with --styled-level one learns to draw styles)."
        ),
    ] = "fast",
    content: Annotated[
        Path | None, typer.Option(help="Folder of content pictures (default: offline photos).")
    ] = None,
    base: Annotated[
        Path | None,
        typer.Option(
            help="cin/stylebank: extend this bundle with the new styles; wct: start "
            "from this bundle's decoders."
        ),
    ] = None,
    levels: Annotated[
        str | None, typer.Option(help="wct: levels with a decoder, deep first, comma-separated.")
    ] = None,
    styled_level: Annotated[
        str,
        typer.Option(
            help="wct: the level whose decoder learns to draw styles (WCT of a "
            "varied style pool, style losses) instead of reconstructing."
        ),
    ] = "",
    painters: Annotated[
        int, typer.Option(help="wct --styled-level: procedural paintings added to the styles.")
    ] = 64,
    iters: Annotated[
        int, typer.Option(help="Updates (0.5 s each at 256 px on 2 idle CPU cores).")
    ] = 2000,
    batch: Annotated[int, typer.Option(help="Crops per update.")] = 4,
    size: Annotated[
        int, typer.Option(help="Training crop side in pixels (smaller is much faster).")
    ] = 256,
    style_size: Annotated[int, typer.Option(help="Long side of the style pictures.")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    style_weight: Annotated[float, typer.Option(help="Style loss weight.")] = 30.0,
    content_weight: Annotated[float, typer.Option(help="Content loss weight.")] = 1.0,
    tv_weight: Annotated[float, typer.Option(help="Total variation weight.")] = 10.0,
    width: Annotated[int, typer.Option(help="Channel width of the network.")] = 16,
    pad: Annotated[
        str, typer.Option(help="fast/cin: zeros | reflect (reflect: no bands along borders).")
    ] = "zeros",
    seed: SeedOpt = 0,
    snapshot: SnapshotOpt = 0,
    resume: ResumeOpt = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Snapshots and metrics.csv (default: OUTPUT.run/).")
    ] = None,
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
                       lr=lr, style_weight=style_weight, content_weight=content_weight,
                       tv_weight=tv_weight, width=width, seed=seed,
                       snapshot_interval=snapshot, device=device, wct_styled=styled_level,
                       painters=painters, pad=pad,
                       **({"wct_levels": tuple(split_list(levels, str, "--levels") or [])}
                          if levels else {}))  # fmt: skip
    with sigterm_as_interrupt():
        summary = train_style_files(split_list(style, str, "--style") or [], output, opts,
                                    content, base=base, run_dir=run_dir, resume=resume,
                                    progress=not as_json)  # fmt: skip
    stop_if_interrupted(summary, as_json)
    styles = ", ".join(summary["styles"])
    emit(summary, f"wrote {output} after {summary['iterations']} iterations "
         f"({summary['seconds']:.0f} s; styles {styles})", as_json)  # fmt: skip
