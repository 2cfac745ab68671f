"""What every command shares: the command groups, the option declarations, one way to print
results (text or ``--json``) and errors.

Shared options are declared once here as ``Annotated`` types, so a flag means the same thing
(and has the same short form) on every command: ``-o`` is always the output, ``-m`` always a
model bundle, ``-s`` always a style, ``-q`` quiet, ``--json`` one JSON document on stdout.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from decaf.core.errors import OptionError
from decaf.core.progress import console, count_progress  # noqa: F401 (re-exported)

__all__ = ["console", "emit", "emit_error", "split_list", "split_pairs", "sigterm_as_interrupt"]

CONTEXT = {"help_option_names": ["-h", "--help"]}


def group(help_text: str) -> typer.Typer:
    """A command group with the CLI's conventions (``-h``, help when called bare)."""
    return typer.Typer(help=help_text, no_args_is_help=True, context_settings=CONTEXT,
                       rich_markup_mode=None)  # fmt: skip


train_app = group("Train models on the shared engine.")
eval_app = group("Measure trained models.")
export_app = group("Export trained networks.")


def option(kind: Any, text: str, *flags: str) -> Any:
    """A typed option with its help, declared once at module level (a command's signature then
    reads as a list of names)."""
    return Annotated[kind, typer.Option(*flags, help=text)]


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (a GPU when there is one), cpu, cuda or cuda:N.")
]
BundleOpt = Annotated[Path, typer.Option("--model", "-m", help="A trained bundle (.pt).")]
ResumeOpt = Annotated[
    Path | None, typer.Option(help="A snapshot, or a run folder, to continue from.")
]
SnapshotOpt = Annotated[int, typer.Option(help="Snapshot every N updates (0: when stopped).")]
SeedOpt = Annotated[int, typer.Option(help="Random seed.")]
ClassifierOpt = Annotated[
    Path | None, typer.Option(help="A bundle from `decaf train classifier` for labels.")
]
DetectorOpt = Annotated[
    Path | None, typer.Option(help="A bundle from `decaf train detector` for objects.")
]
BadFileOpt = Annotated[
    str,
    typer.Option(
        help="An unreadable picture: skip (left out, named at the end) or stop (exit 2 "
        "naming it, nothing written)."
    ),  # fmt: skip
]


def bundle_output(path: Path) -> Path:
    """A bundle to write: a .pt file in an existing folder (checked before any training)."""
    if path.suffix != ".pt":
        raise OptionError(f"{path}: a bundle is a .pt file")
    if not path.parent.is_dir():
        raise OptionError(f"{path}: the folder {path.parent} does not exist")
    return path


def emit(payload: dict[str, Any], text: str, as_json: bool) -> None:
    """Print ``payload`` as one JSON line, or ``text`` for people, on stdout."""
    if as_json:
        sys.stdout.write(json.dumps(payload, sort_keys=True) + "\n")
    else:
        sys.stdout.write(text + "\n")
    sys.stdout.flush()


def stop_if_interrupted(summary: dict[str, Any], as_json: bool) -> None:
    """After a training command: if Ctrl-C/SIGTERM stopped it, report the snapshot to resume
    from and exit 130 (no bundle is written for a half-trained model)."""
    if summary["interrupted"]:
        import typer

        emit(summary, f"stopped at iteration {summary['iterations']}; no bundle written. Resume "
             f"with --resume {summary['snapshot']}", as_json)  # fmt: skip
        raise typer.Exit(130)


def emit_error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def split_list(value: str | None, kind: type = str, what: str = "value") -> list[Any] | None:
    """``"a,b,c"`` → ``[a, b, c]`` converted by ``kind``; a bad item is an :class:`OptionError`."""
    if value is None or value.strip() == "":
        return None
    out = []
    for item in value.split(","):
        item = item.strip()
        try:
            out.append(kind(item))
        except ValueError:
            raise OptionError(f"{what}: {item!r} is not a valid {kind.__name__}") from None
    return out


def split_pairs(value: str | None, what: str) -> dict[str, float] | None:
    """``"a=1,b=0.5"`` → ``{"a": 1.0, "b": 0.5}``; a malformed item is an :class:`OptionError`."""
    items = split_list(value, str, what)
    if items is None:
        return None
    out: dict[str, float] = {}
    for item in items:
        name, sep, number = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            out[name.strip()] = float(number)
        except ValueError:
            raise OptionError(f"{what}: {item!r} is not NAME=NUMBER") from None
    return out


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (``kill``) like Ctrl-C for the duration, so finished work is saved."""

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def table_console() -> Any:
    """A console for tables on stdout: the terminal's width, or unlimited when piped (rich
    would otherwise cut every cell to fit 80 columns)."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=10_000, soft_wrap=True)
