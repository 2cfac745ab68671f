"""The ``decaf`` command: a thin Typer layer over the Python API.

Errors a user can cause surface as ``error: ...`` on stderr and exit code 2 (usage errors from
Typer/Click exit 2 as well); Ctrl-C exits 130 after saving finished work. :func:`main` takes an
``argv`` list and returns the exit code, so tests call it directly.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from decaf.cli.caffe import caffe_app
from decaf.cli.classify import classify_command, eval_app, train_app
from decaf.cli.common import emit_error
from decaf.cli.data import data_app
from decaf.cli.detect import detect_command
from decaf.cli.stylize import stylize_command
from decaf.cli.stylize_fast import export_app
from decaf.cli.zoo import zoo_app
from decaf.core.errors import DecafError

app = typer.Typer(
    name="decaf",
    help="Pretrained convolutional networks as working tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("stylize")(stylize_command)
app.command("classify")(classify_command)
app.command("detect")(detect_command)
app.add_typer(train_app, name="train")
app.add_typer(eval_app, name="eval")
app.add_typer(data_app, name="data")
app.add_typer(caffe_app, name="caffe")
app.add_typer(zoo_app, name="zoo")
app.add_typer(export_app, name="export")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        result = app(args=args, prog_name="decaf", standalone_mode=False)
    except DecafError as exc:
        emit_error(str(exc))
        return 2
    except typer.Abort:
        emit_error("interrupted")
        return 130
    except typer.Exit as exc:
        return int(getattr(exc, "exit_code", 0))
    except TyperException as exc:  # usage errors: bad flag, bad value, unknown command
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            emit_error(str(exc))
        return int(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        emit_error("interrupted")
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
