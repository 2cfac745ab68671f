"""``decaf zoo``: which networks decaf knows and whether their weights are on this machine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from decaf.cli.common import emit, group, table_console

zoo_app = group("Networks by name and their offline weights.")


@zoo_app.command("list")
def list_command(
    pattern: Annotated[str, typer.Argument(help="Shell pattern, e.g. 'efficientnet*'.")] = "*",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List networks: architecture, parameter count, and where weights would come from.

    Example:

      decaf zoo list 'efficientnet*'
    """
    from decaf.zoo.registry import get_spec, list_models, parameter_count, weights_source

    rows = []
    for name in list_models(pattern):
        spec = get_spec(name)
        rows.append(
            {
                "name": name,
                "arch": spec.arch,
                "family": spec.family,
                "params_m": round(parameter_count(name) / 1e6, 2),
                "input_size": spec.input_size,
                "weights": weights_source(name),
                "license": spec.license or None,
            }
        )
    if as_json:
        emit({"models": rows}, "", True)
        return
    table = Table(title="decaf zoo")
    for col in ("name", "timm architecture", "params", "input", "weights"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            r["arch"],
            f"{r['params_m']:.1f} M",
            str(r["input_size"]),
            (r["weights"] or "").split(":")[0] or "[yellow]none[/] (--weights FILE)",
        )
    table_console().print(table)
