"""``decaf stylize``: style transfer from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import JsonOpt, QuietOpt, emit, sigterm_as_interrupt, split_list, split_pairs
from decaf.core.progress import Bar


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
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where to write the picture (a folder or video for folder or video content).",
        ),
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
        Path | None,
        typer.Option("--model", "-m", help="fast/adain: a style bundle (default: built-in)."),
    ] = None,
    builtin: Annotated[
        str | None, typer.Option(help="A built-in style by name (same as --style NAME).")
    ] = None,
    alpha: Annotated[float | None, typer.Option(help="adain: style strength 0..1 (1).")] = None,
    tile: Annotated[
        int | None, typer.Option(help="fast/adain: tile pictures over this long side (2048).")
    ] = None,
    engine: Annotated[str | None, typer.Option(help="fast/adain: auto | onnx | torch.")] = None,
    smooth: Annotated[
        float | None, typer.Option(help="fast/adain videos: blend of the previous frame (0.5).")
    ] = None,
    masks: Annotated[
        str | None, typer.Option(help="adain: one grey mask picture per style, comma-separated.")
    ] = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Paint CONTENT in the style of --style: by optimisation (gatys, the default), with a
    trained network (fast: built-in styles, or --model) or with AdaIN (adain: any style
    picture). fast and adain also take a folder of pictures or a video as CONTENT. Options
    that do not apply to the chosen method are refused.

    Examples:

      decaf stylize photo.jpg -s painting.jpg -o out.png

      decaf stylize photo.jpg -s a.jpg,mosaic --style-weights 0.7,0.3 -o blend.png

      decaf stylize photos/ --method fast --builtin mosaic -o stylized/

      decaf stylize photo.jpg --method adain -s painting.jpg --alpha 0.8 -o out.png
    """
    import decaf.stylize as st

    given = {
        "size": size, "loss": loss, "preserve_color": preserve_color, "init": init,
        "seed": seed, "backbone": backbone, "weights": str(weights) if weights else None,
        "content_weight": content_weight, "style_weight": style_weight, "tv_weight": tv_weight,
        "style_scale": style_scale, "optimizer": optimizer, "lr": lr, "model": model,
        "alpha": alpha, "tile": tile, "engine": engine, "smooth": smooth,
        "steps": _steps(steps), "scales": split_list(scales, int, "--scales"),
        "style_weights": split_list(style_weights, float, "--style-weights"),
        "style_layers": split_list(style_layers, str, "--style-layers"),
        "content_layers": split_list(content_layers, str, "--content-layers"),
        "layer_weights": split_pairs(layer_weights, "--layer-weights"),
        "smoothing": split_pairs(smoothing, "--smoothing"),
        "masks": split_list(masks, str, "--masks"),
    }  # fmt: skip
    # only what the user set: every default lives in the library, nowhere else
    options = {k: v for k, v in given.items() if v is not None}
    styles = split_list(builtin if builtin is not None else style, str, "--style") or []
    with Bar("loading", not quiet and not as_json) as bar, sigterm_as_interrupt():

        def on_step(p: st.Progress) -> None:
            w, h = p.size
            losses = f"style {p.losses['style']:.3g} content {p.losses['content']:.3g}"
            bar.update(p.done, p.total, losses, f"scale {p.level + 1}/{p.levels} {w}×{h}")

        def on_item(done: int, total: int) -> None:
            bar.update(done, total, description="pictures" if total else "frames")

        report = st.stylize_to(content, styles, output, method, on_step=on_step,
                               on_item=on_item, **options)  # fmt: skip
    emit(report.to_json(), report.text, as_json)
    return 130 if report.interrupted else 0


def _steps(raw: str | None) -> int | list[int] | None:
    """``--steps``: one number for every level, or one per level."""
    values = split_list(raw, int, "--steps")
    if values is None:
        return None
    return values[0] if len(values) == 1 else values
