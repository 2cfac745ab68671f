"""The ``decaf`` command: a thin Typer layer over the Python API.

Errors a user can cause surface as ``error: ...`` on stderr and exit code 2 (usage errors from
Typer/Click exit 2 as well); Ctrl-C exits 130 after saving finished work. :func:`main` takes an
``argv`` list and returns the exit code, so tests call it directly.

:func:`main` chooses torch's thread settings (:mod:`decaf.core.threads`) before anything
imports torch, then loads the command tree (:mod:`decaf.cli.app`).
"""

from __future__ import annotations

import sys

from decaf.core.errors import DecafError
from decaf.core.threads import configure as configure_threads


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    configure_threads()
    import typer
    from typer.exceptions import TyperException

    from decaf.cli.app import app
    from decaf.cli.common import emit_error

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
