"""``decaf stylize``: style transfer from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from decaf.cli.common import (
    JsonOpt,
    QuietOpt,
    emit,
    option,
    sigterm_as_interrupt,
    split_list,
    split_pairs,
)
from decaf.core.progress import Bar


def _D(name: str) -> str:  # noqa: N802 - reads like the "(default: ...)" it returns
    """``(default: X)`` for a StyleOptions field, so help never disagrees with the library."""
    from decaf.stylize.optimize import StyleOptions

    return f"(default: {StyleOptions.__dataclass_fields__[name].default})"


def _opt(kind: Any, text: str, *flags: str) -> Any:
    """An optional option: ``None`` when not given, so only what the user set is passed on."""
    return option(kind | None, text, *flags)


Content = Annotated[str | None, typer.Argument(
    help="Content photo: a file, or a scikit-image photo name (default chelsea); fast, adain "
    "and wct also take a folder or a video.")]  # fmt: skip
Style = _opt(str, "Style picture(s), comma-separated: files or built-in styles (swirl, mosaic, "
             "pointillism, hatching). Default: swirl (fast: the model's first style).",
             "--style", "-s")  # fmt: skip
Output = Annotated[Path, typer.Option("--output", "-o", help="Where to write the picture "
                                      "(a folder or a video for such content).")]  # fmt: skip
Method = Annotated[str, typer.Option(
    help="gatys (optimisation) | fast (a trained network) | adain | wct (any style).")]  # fmt: skip
# shared by every method
StyleWeights = _opt(str, "Blend weights for several styles, e.g. 0.7,0.3.")
PreserveColor = _opt(str, "luminance | histogram: keep the content's colours.")
Size = _opt(int, f"Long side of the result in pixels {_D('size')}.")
# gatys only
Loss = _opt(str, f"gatys: gram | mmd-linear | mmd-gauss | bn-stats {_D('loss')}")
Steps = _opt(str, "gatys: iterations per scale, one number or a comma list.")
Scales = _opt(str, "gatys: coarse-to-fine long sides, e.g. 256,384,512.")
Init = _opt(str, f"gatys: content | noise | style {_D('init')}")
Seed = _opt(int, f"gatys: random seed (noise init, MMD sampling) {_D('seed')}.")
Backbone = _opt(str, f"gatys: loss network from `decaf zoo list` {_D('backbone')}.")
Weights = _opt(Path, "gatys: a weights file for the backbone.")
ContentWeight = _opt(float, f"gatys: {_D('content_weight')}")
StyleWeight = _opt(float, "gatys: (default: 30 for gram, 1000 bn-stats, 3000 the MMDs)")
TvWeight = _opt(float, f"gatys: {_D('tv_weight')}")
StyleScale = _opt(float, f"gatys: style size relative to the content's {_D('style_scale')}.")
StyleOctaves = _opt(
    int, f"gatys: match the style at 1-4 octaves (large strokes) {_D('style_octaves')}."
)
StyleLayers = _opt(str, "gatys: comma list of layer names.")
ContentLayers = _opt(str, "gatys: comma list of layer names.")
LayerWeights = _opt(
    str,
    "gatys: per style layer weights, e.g. blocks.1=2,blocks.4=0.5 "
    "(default: conv_stem=16,blocks.0=16,blocks.1=8,blocks.2=2, others 1).",
)
Smoothing = _opt(str, "gatys: SWAG smoothing, layer=temperature pairs, e.g. blocks.4=1.")
Optimizer = _opt(str, "gatys: lbfgs | adam (default: lbfgs; adam for the MMD losses)")
Lr = _opt(float, "gatys: Adam learning rate.")
# the trained networks only
Model = _opt(Path, "fast/adain/wct: a style bundle (default: built-in).", "--model", "-m")
Builtin = _opt(str, "fast: a built-in style by name (same as --style NAME).")
Alpha = _opt(float, "adain/wct: style strength 0..1 (1).")
Tile = _opt(int, "fast/adain/wct: tile pictures over this long side (2048).")
Engine = _opt(str, "fast/adain/wct: auto | onnx | torch.")
Smooth = _opt(float, "fast/adain/wct videos: blend of the previous frame (0.5).")
Masks = _opt(str, "adain/wct: one grey mask picture per style, comma-separated.")
WorkSize = _opt(int, "wct: run the deep levels at this long side, the last at full size.")
Upscale = _opt(bool, "wct: run every level at --work-size and scale the result up (fastest).",
               "--upscale")  # fmt: skip
Device = _opt(str, "auto, cpu, cuda or cuda:N (default: cpu).")

EXAMPLES = """Examples:

  decaf stylize photo.jpg -s painting.jpg -o out.png

  decaf stylize photo.jpg -s a.jpg,mosaic --style-weights 0.7,0.3 -o blend.png

  decaf stylize photos/ --method fast --builtin mosaic -o stylized/

  decaf stylize photo.jpg --method adain -s painting.jpg --alpha 0.8 -o out.png

  decaf stylize photo.jpg --method wct -s painting.jpg -o out.png
"""


def stylize_command(
    content: Content = None, style: Style = None, output: Output = Path("stylized.png"),
    method: Method = "gatys", style_weights: StyleWeights = None,
    preserve_color: PreserveColor = None, size: Size = None, loss: Loss = None,
    steps: Steps = None, scales: Scales = None, init: Init = None, seed: Seed = None,
    backbone: Backbone = None, weights: Weights = None, content_weight: ContentWeight = None,
    style_weight: StyleWeight = None, tv_weight: TvWeight = None, style_scale: StyleScale = None,
    style_octaves: StyleOctaves = None, style_layers: StyleLayers = None,
    content_layers: ContentLayers = None,
    layer_weights: LayerWeights = None, smoothing: Smoothing = None,
    optimizer: Optimizer = None, lr: Lr = None, model: Model = None, builtin: Builtin = None,
    alpha: Alpha = None, tile: Tile = None, engine: Engine = None, smooth: Smooth = None,
    masks: Masks = None, work_size: WorkSize = None, upscale: Upscale = None,
    device: Device = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:  # fmt: skip
    """Paint CONTENT in the style of --style: by optimisation (gatys, the default), with a
    trained network (fast: built-in styles, or --model), or from any style picture in one
    pass (adain: AdaIN; wct: whitening and colouring at several depths). Options that do not
    apply to the chosen method are refused."""
    import decaf.stylize as st

    # the parameters carry the library's option names; pass on only those the user set
    given: dict[str, Any] = dict(locals())
    for name in ("content", "style", "output", "method", "builtin", "as_json", "quiet", "st"):
        given.pop(name)
    for name, kind in (("scales", int), ("style_weights", float), ("style_layers", str),
                       ("content_layers", str), ("masks", str)):  # fmt: skip
        given[name] = split_list(given[name], kind, f"--{name.replace('_', '-')}")
    for name in ("layer_weights", "smoothing"):
        given[name] = split_pairs(given[name], f"--{name.replace('_', '-')}")
    given["steps"] = _steps(steps)
    given["weights"] = str(weights) if weights else None
    options = {k: v for k, v in given.items() if v is not None}
    styles = split_list(builtin if builtin is not None else style, str, "--style") or []
    with Bar("loading", not quiet and not as_json) as bar, sigterm_as_interrupt():

        def on_step(p: st.Progress) -> None:
            w, h = p.size
            losses = f"style {p.losses['style']:.3g} content {p.losses['content']:.3g}"
            bar.update(p.done, p.total, losses, f"scale {p.level + 1}/{p.levels} {w}×{h}")

        def on_item(done: int, total: int) -> None:
            bar.update(done, total, description="pictures or frames")

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
