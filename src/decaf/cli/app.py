"""The ``decaf`` command tree: every group and command, wired to its module."""

from __future__ import annotations

from typing import Annotated

import typer

from decaf.cli.annotate import annotate_command
from decaf.cli.caffe import caffe_app
from decaf.cli.classify import classify_command
from decaf.cli.common import CONTEXT, eval_app, export_app, train_app
from decaf.cli.data import data_app
from decaf.cli.detect import detect_command
from decaf.cli.serve import serve_command
from decaf.cli.stylize import EXAMPLES as STYLIZE_EXAMPLES
from decaf.cli.stylize import stylize_command
from decaf.cli.zoo import zoo_app

# importing these registers their commands on train_app / export_app
from decaf.cli import stylize_fast  # noqa: E402, F401  isort: skip

app = typer.Typer(
    name="decaf",
    help="Pretrained convolutional networks as working tools: stylize, classify, detect, "
    "annotate, serve, run and train Caffe models. `decaf COMMAND -h` shows each command's "
    "options and examples.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from decaf import __version__

        typer.echo(f"decaf {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Pretrained convolutional networks as working tools."""


app.command("stylize", context_settings=CONTEXT, epilog=STYLIZE_EXAMPLES)(stylize_command)
app.command("classify", context_settings=CONTEXT)(classify_command)
app.command("detect", context_settings=CONTEXT)(detect_command)
app.command("annotate", context_settings=CONTEXT)(annotate_command)
app.command("serve", context_settings=CONTEXT)(serve_command)
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.add_typer(data_app, name="data")
app.add_typer(caffe_app, name="caffe")
app.add_typer(zoo_app, name="zoo")
app.add_typer(export_app, name="export")
