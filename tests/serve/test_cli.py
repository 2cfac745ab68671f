"""``decaf serve`` refuses bad options before it binds anything."""

from __future__ import annotations

import pytest

from decaf.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "port"),
        (["--workers", "0"], "workers"),
        (["--max-body-mb", "0"], "--max-body-mb"),
        (["--max-megapixels", "nan"], "--max-megapixels"),
        (["--queue", "-1"], "queue"),
        (["--deadline", "0"], "deadline"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_help_shows_examples(capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", "-h"]) == 0
    assert "decaf serve --host 0.0.0.0" in capsys.readouterr().out
