"""Feed-forward style transfer from the command line: ``decaf stylize --method fast|adain``,
``decaf train style`` and ``decaf export onnx``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from decaf.cli.classify import train_app
from decaf.cli.common import (
    count_progress,
    emit,
    sigterm_as_interrupt,
    split_list,
    stop_if_interrupted,
)
from decaf.core.errors import OptionError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
export_app = typer.Typer(help="Export trained networks.", no_args_is_help=True)


def run_feedforward(
    content: str | None,
    styles: list[str],
    output: Path,
    method: str,
    model: Path | None,
    style_weights: list[float] | None,
    alpha: float,
    size: int | None,
    preserve_color: str | None,
    tile: int,
    engine: str,
    smooth: float,
    masks: list[str] | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """The ``--method fast|adain`` branch of ``decaf stylize``: one picture, a folder or a video."""
    import time

    from decaf.cli.classify import image_paths
    from decaf.core.images import image_format_for, load_image, save_image
    from decaf.stylize import resolve_content, resolve_style
    from decaf.stylize.apply import FastStylizer, stylize_video

    stylizer = FastStylizer(model, method, engine)
    adain = stylizer.method == "adain"
    kwargs: dict[str, Any] = {"alpha": alpha, "size": size, "preserve_color": preserve_color,
                              "tile": tile}  # fmt: skip
    if adain:
        kwargs["style_images"] = [resolve_style(s) for s in styles or ["swirl"]]
        kwargs["style_weights"] = style_weights
        if masks is not None:
            import numpy as np

            kwargs["masks"] = [np.asarray(load_image(m).convert("L"), np.float32) / 255
                               for m in masks]  # fmt: skip
    else:
        if masks is not None:
            raise OptionError("--masks works with --method adain")
        if alpha != 1.0:
            raise OptionError("--alpha works with --method adain")
        keys = [int(s) if s.isdigit() else s for s in styles]  # names or indices
        if style_weights is not None:
            if len(style_weights) != len(keys):
                raise OptionError(f"{len(style_weights)} weights for {len(keys)} styles")
            kwargs["style"] = dict(zip(keys, style_weights, strict=True))
        elif len(keys) > 1:
            raise OptionError("several styles need --style-weights to blend them")
        elif keys:
            kwargs["style"] = keys[0]

    def one(img: Any) -> Any:
        return stylizer(img, **kwargs)

    src = Path(content) if content is not None else None
    start = time.perf_counter()
    if src is not None and src.suffix.lower() in VIDEO_SUFFIXES:
        if output.suffix.lower() not in VIDEO_SUFFIXES:
            raise OptionError(
                f"{output}: a video goes to a video file ({', '.join(VIDEO_SUFFIXES)})"
            )
        with sigterm_as_interrupt(), count_progress("frames", not (quiet or as_json)) as update:
            info = stylize_video(src, output, one, smooth, update)
        payload = {"output": str(output), **info, "seconds": round(time.perf_counter() - start, 2)}
        state = "interrupted; kept" if info["stopped"] else "wrote"
        emit(payload, f"{state} {output}: {info['frames']} frames in {payload['seconds']} s",
             as_json)  # fmt: skip
        return 130 if info["stopped"] else 0
    if src is not None and src.is_dir():
        paths = image_paths(src)
        if output.suffix:
            raise OptionError(f"{output}: a folder of pictures goes to a folder (no extension)")
        output.mkdir(parents=True, exist_ok=True)
        written = []
        try:
            with sigterm_as_interrupt(), count_progress("pictures", not (quiet or as_json)) as up:
                for k, p in enumerate(paths):
                    dest = output / f"{p.stem}.png"
                    save_image(one(load_image(p)), dest)
                    written.append(str(dest))
                    up(k + 1, len(paths))
        except KeyboardInterrupt:
            emit({"written": written, "interrupted": True},
                 f"interrupted; {len(written)} pictures written to {output}", as_json)  # fmt: skip
            return 130
        seconds = time.perf_counter() - start
        emit({"output": str(output), "written": written, "seconds": round(seconds, 2)},
             f"wrote {len(written)} pictures to {output} ({seconds:.1f} s)", as_json)  # fmt: skip
        return 0
    image_format_for(output)
    if not output.parent.is_dir():
        raise OptionError(f"{output}: the folder {output.parent} does not exist")
    result = one(resolve_content(content))
    seconds = time.perf_counter() - start
    save_image(result, output)
    emit({"output": str(output), "width": result.width, "height": result.height,
          "seconds": round(seconds, 3), "method": stylizer.method, "model": str(stylizer.path)},
         f"wrote {output} ({result.width}×{result.height}, {seconds:.2f} s, {stylizer.method})",
         as_json)  # fmt: skip
    return 0


@export_app.command("onnx")
def export_onnx_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="The .onnx file to write.")],
    model: Annotated[
        Path | None, typer.Option(help="A fast/CIN/AdaIN bundle (default: the built-in fast one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A style network as ONNX: fast/CIN (inputs image, style) or AdaIN (image, mean, std,
    alpha); H and W must be multiples of 8."""
    from decaf.core.images import atomic_path
    from decaf.stylize.apply import builtin_model, export_onnx
    from decaf.stylize.fast import load_style_net

    if output.suffix != ".onnx":
        raise OptionError(f"{output}: the file must end in .onnx")
    path = model or builtin_model("fast")
    net, info = load_style_net(path)
    with atomic_path(output) as tmp:
        export_onnx(net, tmp)
    emit({"output": str(output), "styles": info["styles"]},
         f"wrote {output} (styles: {', '.join(info['styles'])})", as_json)  # fmt: skip


@train_app.command("style")
def train_style_command(
    style: Annotated[
        str,
        typer.Option("--style", "-s", help="Style pictures or built-in names, comma-separated."),
    ],  # fmt: skip
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle to write (.pt).")],
    method: Annotated[str, typer.Option(help="fast | cin | stylebank | adain.")] = "fast",
    content: Annotated[
        Path | None, typer.Option(help="Folder of content pictures (default: offline photos).")
    ] = None,
    base: Annotated[
        Path | None, typer.Option(help="Extend this cin/stylebank bundle with the new styles.")
    ] = None,
    iters: Annotated[int, typer.Option(help="Updates.")] = 2000,
    batch: Annotated[int, typer.Option(help="Crops per update.")] = 4,
    size: Annotated[int, typer.Option(help="Training crop side in pixels.")] = 256,
    style_size: Annotated[int, typer.Option(help="Long side of the style pictures.")] = 256,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    style_weight: Annotated[float, typer.Option(help="Style loss weight.")] = 30.0,
    content_weight: Annotated[float, typer.Option(help="Content loss weight.")] = 1.0,
    tv_weight: Annotated[float, typer.Option(help="Total variation weight.")] = 10.0,
    width: Annotated[int, typer.Option(help="Channel width of the network.")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    snapshot: Annotated[int, typer.Option(help="Snapshot every N updates.")] = 0,
    resume: Annotated[Path | None, typer.Option(help="Snapshot or run folder.")] = None,
    run_dir: Annotated[
        Path | None, typer.Option(help="Snapshots and metrics.csv (default: OUTPUT.run/).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train a feed-forward style network (or an AdaIN decoder) on the shared engine."""
    from decaf.stylize import resolve_style
    from decaf.stylize.fast import FastOptions, content_folder, train_style

    if output.suffix != ".pt":
        raise OptionError(f"{output}: a bundle is a .pt file")
    names = split_list(style, str, "--style") or []
    pictures = [resolve_style(s, size=max(512, style_size)) for s in names]
    stems = tuple(Path(n).stem for n in names)
    opts = FastOptions(method=method, iters=iters, batch=batch, size=size, style_size=style_size,
                       lr=lr, style_weight=style_weight, content_weight=content_weight,
                       tv_weight=tv_weight, width=width, seed=seed, snapshot_interval=snapshot,
                       styles_names=stems)  # fmt: skip
    opts.validate()
    photos = content_folder(content) if content is not None else None
    with sigterm_as_interrupt():
        summary = train_style(pictures, output, opts, photos, base, run_dir=run_dir,
                              resume=resume, progress=not as_json)  # fmt: skip
    stop_if_interrupted(summary, as_json)
    styles = ", ".join(summary["styles"])
    emit(summary, f"wrote {output} after {summary['iterations']} iterations "
         f"({summary['seconds']:.0f} s; styles {styles})", as_json)  # fmt: skip
