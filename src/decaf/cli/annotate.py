"""``decaf annotate``: Cloud Vision's image features, offline, as a table or one JSON document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decaf.cli.common import (
    ClassifierOpt,
    DetectorOpt,
    DeviceOpt,
    QuietOpt,
    count_progress,
    split_list,
    table_console,
)

FEATURES = "labels,objects,faces,text,document-text,properties,crop-hints,safe-search"


def annotate_command(
    target: Annotated[Path, typer.Argument(help="A picture or a folder of pictures.")],
    features: Annotated[
        str,
        typer.Option(help=f"Comma-separated, from {FEATURES} (Cloud Vision's names work too)."),
    ] = "labels,objects,faces,text,properties,crop-hints,safe-search",
    classifier: ClassifierOpt = None,
    detector: DetectorOpt = None,
    max_results: Annotated[int, typer.Option(help="At most this many per feature.")] = 10,
    aspect_ratios: Annotated[
        str | None, typer.Option(help="Crop-hint shapes as width/height, e.g. 1,1.78 (max 16).")
    ] = None,
    draw: Annotated[
        Path | None, typer.Option(help="Write the picture with what was found (one input).")
    ] = None,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    as_json: Annotated[
        bool, typer.Option("--json", help='Print one {"responses": [...]} document, as served.')
    ] = False,
) -> None:
    """Labels, objects, faces, text, colours, crop hints and safe search for each picture,
    shaped like Cloud Vision's images:annotate. A picture that cannot be read gets its own
    error; the others go on.

    Examples:

      decaf annotate photo.jpg

      decaf annotate scans/ --features document-text --json > text.json

      decaf annotate shop.jpg --detector det.pt --features objects --draw found.png
    """
    from decaf.annotate.files import annotate_files, summary, to_json

    wanted = split_list(features, str, "--features") or []
    ratios = split_list(aspect_ratios, float, "--aspect-ratios") or ()
    with count_progress("annotate", not (quiet or as_json)) as update:
        names, doc = annotate_files(
            target,
            wanted,
            classifier=classifier,
            detector=detector,
            max_results=max_results,
            aspect_ratios=ratios,
            draw=draw,
            device=device,
            progress=update,
        )
    if as_json:
        typer.echo(to_json(doc))
        return
    from rich.table import Table

    console = table_console()
    for name, response in zip(names, doc["responses"], strict=True):
        table = Table(title=name, show_header=False, title_justify="left")
        for feature, line in summary(response) or [("", "nothing found")]:
            table.add_row(feature, line)
        console.print(table)
