"""``decaf data``: dataset tools (mean image, synthetic datasets)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import BadFileOpt, count_progress, emit, group, split_list

data_app = group("Datasets: mean images, synthetic sets, conversions.")
synth_app = group("Make small offline datasets.")
data_app.add_typer(synth_app, name="synth")
convert_app = group("Convert datasets between formats.")
data_app.add_typer(convert_app, name="convert")


@data_app.command("mean")
def mean_command(
    data: Annotated[str, typer.Argument(help="A folder of class folders, or a Caffe list file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the .npy.")],
    size: Annotated[int, typer.Option(help="Resize every picture to SIZE×SIZE first.")] = 256,
    order: Annotated[str, typer.Option(help="Channel order: bgr (Caffe) or rgb.")] = "bgr",
    root: Annotated[
        Path | None, typer.Option(help="Folder list-file paths are relative to.")
    ] = None,
    on_bad_file: BadFileOpt = "skip",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The dataset's mean image, (3, H, W) float32 in 0..255, like Caffe's compute_image_mean.

    Example:

      decaf data mean styles/train.txt -o mean.npy
    """
    from decaf.data.folders import scan
    from decaf.data.mean import check_dest, compute_mean, save_mean

    check_dest(output)
    images = scan(data, root, on_bad_file)
    with count_progress("mean", not as_json) as update:
        mean, skipped = compute_mean(images, (size, size), order, progress=update)
    save_mean(mean, output)
    per_channel = [round(float(c), 3) for c in mean.mean((1, 2))]
    emit(
        {"output": str(output), "shape": list(mean.shape), "order": order,
         "channel_means": per_channel, "images": len(images), "skipped": skipped},
        f"wrote {output}: shape {tuple(mean.shape)}, {order.upper()} channel means {per_channel} "
        f"over {len(images) - skipped} images",
        as_json,
    )  # fmt: skip


@convert_app.command("lmdb")
def convert_lmdb_command(
    data: Annotated[
        str, typer.Argument(help="Folder of class folders, a Caffe list file, or a LevelDB.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="LMDB folder to create.")],
    resize: Annotated[
        str | None, typer.Option(help="HxW to resize every picture to, e.g. 256x256.")
    ] = None,
    gray: Annotated[bool, typer.Option(help="One grey channel instead of BGR.")] = False,
    shuffle: Annotated[bool, typer.Option(help="Shuffle the order (seeded).")] = False,
    seed: Annotated[int, typer.Option(help="Shuffle seed.")] = 0,
    root: Annotated[
        Path | None, typer.Option(help="Folder that list-file paths are relative to.")
    ] = None,
    on_bad_file: BadFileOpt = "skip",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Pictures → LMDB of Caffe Datum (BGR, CHW bytes), like convert_imageset. Use --shuffle for
    training data: a class-sorted LMDB makes SGD diverge. A LevelDB (the MNIST and CIFAR
    converters' default) is copied record for record.

    Example:

      decaf data convert lmdb digits/ -o train_lmdb --resize 28x28 --gray --shuffle

      decaf data convert lmdb mnist_train_leveldb -o mnist_train_lmdb
    """
    from decaf.caffe.data import copy_to_lmdb, is_leveldb, write_lmdb
    from decaf.core.errors import OptionError
    from decaf.data.folders import scan

    if is_leveldb(Path(data)):
        if resize or gray or shuffle:
            raise OptionError("--resize, --gray and --shuffle apply to pictures; a LevelDB is "
                              "copied as it is")  # fmt: skip
        with count_progress("convert", not as_json) as update:
            n = copy_to_lmdb(data, output, progress=update)
        emit({"output": str(output), "records": n}, f"wrote {output}: {n} Datum records from "
             f"the LevelDB {data}", as_json)  # fmt: skip
        return

    size = None
    if resize is not None:
        try:
            h, w = (int(v) for v in resize.lower().split("x"))
            if h < 1 or w < 1:
                raise ValueError
            size = (h, w)
        except ValueError:
            raise OptionError(f"--resize wants HxW with positive numbers, got {resize!r}") from None
    if output.exists():
        raise OptionError(f"{output}: already exists")
    images = scan(data, root, on_bad_file)
    with count_progress("convert", not as_json) as update:
        n = write_lmdb(images.samples, output, size, gray, shuffle, seed, progress=update,
                       on_bad=images.bad_file)  # fmt: skip
    emit(
        {"output": str(output), "images": n, "classes": images.classes,
         "skipped": [str(p) for p, _ in images.skipped]},
        f"wrote {output}: {n} Datum records ({images.summary()})",
        as_json,
    )  # fmt: skip


@convert_app.command("kitti-to-voc")
def kitti_to_voc_command(
    src: Annotated[Path, typer.Argument(help="KITTI training folder (label_2/, image_2/).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="VOC layout folder to create.")],
    val: Annotated[float, typer.Option(help="Fraction of pictures for the val split.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Split seed.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """KITTI object labels → Pascal VOC (beyond-"hard" objects become difficult).

    Example:

      decaf data convert kitti-to-voc kitti/training -o voc/
    """
    from decaf.data.kitti import kitti_to_voc

    with count_progress("convert", not as_json) as update:
        info = kitti_to_voc(src, output, val, seed, force, update)
    emit(info, f"wrote {output}: {info['images']} pictures ({info['train']} train, "
         f"{info['val']} val), {info['objects']} objects ({info['difficult']} difficult), "
         f"classes {', '.join(info['classes'])}", as_json)  # fmt: skip


@synth_app.command("photo-styles")
def photo_styles_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to create.")],
    per_class: Annotated[int, typer.Option(help="Pictures per look.")] = 30,
    size: Annotated[int, typer.Option(help="Side of each square picture in pixels.")] = 160,
    looks: Annotated[str | None, typer.Option(help="Comma-separated subset of looks.")] = None,
    val_fraction: Annotated[float, typer.Option(help="Share listed in val.txt.")] = 0.25,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Photographic looks (noir, vintage, pastel, hdr, hazy, ...) on scikit-image photos.

    Example:

      decaf data synth photo-styles -o styles/ --per-class 40
    """
    from decaf.data.synthetic import LOOKS, photo_styles

    chosen = split_list(looks, str, "--looks")
    with count_progress("synth", not as_json) as update:
        info = photo_styles(
            output, per_class, size, chosen, val_fraction, seed, force, progress=update
        )
    emit(
        info,
        f"wrote {output}: {len(info['classes'])} looks ({', '.join(info['classes'])}), "
        f"{info['train']} train + {info['val']} val pictures; lists train.txt, val.txt, "
        f"classes.txt (all looks: {', '.join(LOOKS)})",
        as_json,
    )


@synth_app.command("shapes")
def shapes_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to create.")],
    count: Annotated[int, typer.Option(help="Pictures in all.")] = 100,
    val: Annotated[int, typer.Option(help="How many of them form the val split.")] = 20,
    min_size: Annotated[int, typer.Option(help="Smallest side in pixels.")] = 128,
    max_size: Annotated[int, typer.Option(help="Largest side in pixels.")] = 256,
    fmt: Annotated[str, typer.Option("--format", help="voc or coco.")] = "voc",
    masks: Annotated[bool, typer.Option(help="Also write instance masks.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Squares, circles and triangles with boxes (and masks): a detection set made offline.

    Example:

      decaf data synth shapes -o shapes/ --count 700 --val 200 --masks
    """
    from decaf.data.synthetic import shapes

    with count_progress("synth", not as_json) as update:
        info = shapes(output, count, val, (min_size, max_size), fmt, masks, seed, force, update)
    emit(
        info,
        f"wrote {output}: {info['images']} pictures ({info['train']} train, {info['val']} val), "
        f"{info['objects']} objects, {fmt.upper()} layout" + (", with masks" if masks else ""),
        as_json,
    )
