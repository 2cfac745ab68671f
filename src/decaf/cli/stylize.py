"""``decaf stylize``: style transfer from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from decaf.cli.common import console, emit, sigterm_as_interrupt, split_list, split_pairs
from decaf.core.errors import OptionError
from decaf.core.images import image_format_for, save_image


def _D(name: str) -> str:  # noqa: N802 - reads like the "(default: ...)" it returns
    """``(default: X)`` for a StyleOptions field, so help never disagrees with the library."""
    from decaf.stylize.optimize import StyleOptions

    return f"(default: {StyleOptions.__dataclass_fields__[name].default})"


def stylize_command(
    content: Annotated[
        str | None,
        typer.Argument(
            help="Content photo: a file, or a scikit-image photo name (default chelsea)."
        ),
    ] = None,
    style: Annotated[
        str | None,
        typer.Option(
            "--style",
            "-s",
            help="Style picture(s), comma-separated: files or built-in "
            "styles (swirl, mosaic, pointillism, hatching). Default: swirl (fast: the model's "
            "first style).",
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the picture.")
    ] = Path("stylized.png"),
    style_weights: Annotated[
        str | None, typer.Option(help="Blend weights for several styles, e.g. 0.7,0.3.")
    ] = None,
    loss: Annotated[
        str | None, typer.Option(help=f"gram | mmd-linear | mmd-gauss | bn-stats {_D('loss')}")
    ] = None,
    preserve_color: Annotated[
        str | None, typer.Option(help="luminance | histogram: keep the content's colours.")
    ] = None,
    size: Annotated[
        int | None, typer.Option(help=f"Long side of the result in pixels {_D('size')}.")
    ] = None,
    steps: Annotated[
        str | None, typer.Option(help="Iterations per scale: one number or a comma list.")
    ] = None,
    scales: Annotated[
        str | None, typer.Option(help="Coarse-to-fine long sides, e.g. 256,384,512.")
    ] = None,
    init: Annotated[str | None, typer.Option(help=f"content | noise | style {_D('init')}")] = None,
    seed: Annotated[
        int | None, typer.Option(help=f"Random seed (noise init, MMD sampling) {_D('seed')}.")
    ] = None,
    backbone: Annotated[
        str | None, typer.Option(help=f"Loss network from `decaf zoo list` {_D('backbone')}.")
    ] = None,
    weights: Annotated[Path | None, typer.Option(help="A weights file for the backbone.")] = None,
    content_weight: Annotated[float | None, typer.Option(help=_D("content_weight"))] = None,
    style_weight: Annotated[
        float | None, typer.Option(help="(default: 30 for gram, 1000 bn-stats, 3000 the MMDs)")
    ] = None,
    tv_weight: Annotated[float | None, typer.Option(help=_D("tv_weight"))] = None,
    style_scale: Annotated[
        float | None,
        typer.Option(help=f"Style image size relative to the content's {_D('style_scale')}."),
    ] = None,
    style_layers: Annotated[str | None, typer.Option(help="Comma list of layer names.")] = None,
    content_layers: Annotated[str | None, typer.Option(help="Comma list of layer names.")] = None,
    layer_weights: Annotated[
        str | None, typer.Option(help="Per style layer weights, e.g. blocks.1=2,blocks.4=0.5.")
    ] = None,
    smoothing: Annotated[
        str | None,
        typer.Option(help="SWAG activation smoothing: layer=temperature pairs, e.g. blocks.4=1."),
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option(help="lbfgs | adam (default: lbfgs; adam for the MMD losses)")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    method: Annotated[
        str,
        typer.Option(help="gatys (optimisation) | fast (a trained network) | adain (any style)."),
    ] = "gatys",
    model: Annotated[
        Path | None, typer.Option(help="fast/adain: a style bundle (default: the built-in one).")
    ] = None,
    builtin: Annotated[
        str | None, typer.Option(help="A built-in style by name (same as --style NAME).")
    ] = None,
    alpha: Annotated[float, typer.Option(help="adain: style strength 0..1.")] = 1.0,
    tile: Annotated[
        int, typer.Option(help="fast/adain: tile pictures whose long side exceeds this.")
    ] = 2048,
    engine: Annotated[str, typer.Option(help="fast: auto | onnx | torch.")] = "auto",
    smooth: Annotated[
        float, typer.Option(help="Videos: blend of the flow-warped previous frame, 0..1.")
    ] = 0.5,
    masks: Annotated[
        str | None, typer.Option(help="adain: one grey mask picture per style, comma-separated.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON record.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> int:
    """Paint CONTENT in the style of --style: by optimisation (gatys), with a trained network
    (fast: built-in styles, or --model) or with AdaIN (adain: any style picture). fast/adain
    also take a folder of pictures or a video as CONTENT."""
    import decaf.stylize as st

    if builtin is not None:
        style = builtin
    if method not in ("gatys", "fast", "adain"):
        raise OptionError(f"unknown method {method!r}; use gatys, fast or adain")
    if method != "gatys":
        from decaf.cli.stylize_fast import run_feedforward

        return run_feedforward(
            content, split_list(style, str, "--style") or [], output, method, model,
            split_list(style_weights, float, "--style-weights"), alpha, size, preserve_color,
            tile, engine, smooth, split_list(masks, str, "--masks"), as_json, quiet,
        )  # fmt: skip

    image_format_for(output)  # refuse a bad output type before any work
    if not output.parent.is_dir():
        raise OptionError(f"{output}: the folder {output.parent} does not exist")
    given = {
        "size": size,
        "loss": loss,
        "preserve_color": preserve_color,
        "init": init,
        "seed": seed,
        "backbone": backbone,
        "weights": str(weights) if weights else None,
        "content_weight": content_weight,
        "style_weight": style_weight,
        "tv_weight": tv_weight,
        "style_scale": style_scale,
        "optimizer": optimizer,
        "lr": lr,
    }
    # only what the user set: every default lives in StyleOptions, nowhere else
    options: dict = {k: v for k, v in given.items() if v is not None}
    step_list = split_list(steps, int, "--steps")
    if step_list is not None:
        options["steps"] = step_list[0] if len(step_list) == 1 else step_list
    for key, raw, kind in (
        ("scales", scales, int),
        ("style_weights", style_weights, float),
        ("style_layers", style_layers, str),
        ("content_layers", content_layers, str),
    ):
        value = split_list(raw, kind, f"--{key.replace('_', '-')}")
        if value is not None:
            options[key] = value
    for key, raw in (("layer_weights", layer_weights), ("smoothing", smoothing)):
        pairs = split_pairs(raw, f"--{key.replace('_', '-')}")
        if pairs is not None:
            options[key] = pairs
    styles = split_list(style, str, "--style") or ["swirl"]
    content_img, style_imgs, opts = st.prepare(content, styles, **options)

    show = not quiet and not as_json
    with (
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not show,
            transient=False,
        ) as bar,
        sigterm_as_interrupt(),
    ):
        task = bar.add_task("loading", total=None, losses="")

        def on_step(p: st.Progress) -> None:
            w, h = p.size
            text = f"style {p.losses['style']:.3g} content {p.losses['content']:.3g}"
            bar.update(
                task,
                total=p.total,
                completed=p.done,
                description=f"scale {p.level + 1}/{p.levels} {w}×{h}",
                losses=text,
            )

        result = st.stylize_gatys(content_img, style_imgs, opts, callback=on_step)
    save_image(result.image, output)
    payload = {
        "output": str(output),
        "width": result.image.width,
        "height": result.image.height,
        "seconds": round(result.seconds, 2),
        "iterations": result.iterations,
        "interrupted": result.interrupted,
        "losses": result.losses,
        "backbone": result.options.backbone,
        "device": result.options.device,
        "optimizer": result.options.solver(),
    }
    state = "interrupted; best result so far saved to" if result.interrupted else "wrote"
    emit(
        payload,
        f"{state} {output} ({result.image.width}×{result.image.height}, "
        f"{result.seconds:.1f} s, {result.iterations} iterations)",
        as_json,
    )
    return 130 if result.interrupted else 0
