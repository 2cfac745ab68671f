"""The progress bar in a log (stderr not a terminal): plain lines, not a redrawn bar."""

from __future__ import annotations

import pytest

from decaf.core import progress


def test_plain_lines_first_stage_change_overdue_and_final(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = iter([0.0, 1.0, 2.0, 3.0, 3.0 + progress.PLAIN_EVERY, 20.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    with progress.Bar("loading") as bar:
        assert bar._plain  # pytest captures stderr: not a terminal
        bar.update(1, 10, "loss 3")  # first: printed
        bar.update(2, 10, "loss 2")  # 1 s later: quiet
        bar.update(0, 5, description="scale 2/2")  # a new stage: printed
        bar.update(1, 5)  # quiet
        bar.update(2, 5)  # PLAIN_EVERY seconds after the last line: printed
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["loading 1/10 loss 3", "scale 2/2 0/5 loss 2", "scale 2/2 2/5 loss 2",
                     "scale 2/2 2/5 loss 2"]  # fmt: skip


def test_disabled_or_unused_bar_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.Bar("off", enabled=False) as bar:
        bar.update(1, 2)
    with progress.Bar("unused"):
        pass
    assert capsys.readouterr().err == ""
