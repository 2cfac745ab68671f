from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import pytest
import torch
from torch import nn

from decaf.core.bundle import BundleError
from decaf.core.errors import DecafError, OptionError
from decaf.train.loop import LoopConfig, Trainer, latest_snapshot
from decaf.train.sampler import ResumableBatchSampler
from decaf.train.schedules import LRPolicy
from decaf.train.solver import SolverConfig
from tests.train.toy import NoisyPoints, mse_step, toy_net

SOLVER = SolverConfig(
    type="sgd", lr=LRPolicy("step", base_lr=0.05, gamma=0.5, stepsize=7), weight_decay=1e-4
)


def _trainer(tmp: Path | None, max_iter: int, **kw) -> Trainer:
    solver = kw.pop("solver", SOLVER)
    net = kw.pop("net", None) or toy_net()
    evaluate = kw.pop("evaluate", None)
    loop = LoopConfig(max_iter=max_iter, batch_size=kw.pop("batch_size", 8), out_dir=tmp, **kw)
    return Trainer(net, NoisyPoints(), mse_step, solver, loop, evaluate=evaluate)


def _weights(t: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in t.model.parameters()]


def test_training_reduces_the_loss_and_records_metrics(tmp_path: Path) -> None:
    data = NoisyPoints(noise=0.0)

    def evaluate(net: nn.Module) -> dict[str, float]:
        return {"mse": float(nn.functional.mse_loss(net(data.x), data.y))}

    t = _trainer(tmp_path, 60, display=10, evaluate=evaluate, test_interval=30)
    with torch.no_grad():
        before = evaluate(t.model.eval())["mse"]
    result = t.fit()
    losses = [r["value"] for r in result.history if r["name"] == "loss"]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0]
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["name"] for r in rows} == {"loss", "lr", "mse"}
    evals = [(r["iteration"], float(r["value"])) for r in rows if r["split"] == "val"]
    assert [i for i, _ in evals] == ["30", "60"] and evals[-1][1] < 0.5 * before
    assert result.eval["mse"] == pytest.approx(evals[-1][1])
    lrs = [float(r["value"]) for r in rows if r["name"] == "lr"]
    # the rate used by update 10, 20, ... 60 (iteration index 9, 19, ...)
    assert lrs == pytest.approx([0.05 * 0.5 ** (i // 7) for i in (9, 19, 29, 39, 49, 59)])
    assert result.images == 60 * 8 and not result.interrupted


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_is_exact(tmp_path: Path, workers: int) -> None:
    """20 iterations straight == 10, snapshot, a new process-like Trainer, resume, 10 more."""
    straight = _trainer(None, 20, num_workers=workers)
    straight.fit()
    first = _trainer(tmp_path, 10, num_workers=workers, snapshot_interval=10)
    r1 = first.fit()
    assert r1.snapshot is not None and r1.snapshot.name == "iter_00000010.pt"
    torch.manual_seed(999)  # the resumed run must not depend on the caller's RNG
    second = _trainer(tmp_path, 20, num_workers=workers, net=toy_net(seed=5))
    r2 = second.fit(resume=tmp_path)
    assert r2.iteration == 20
    for a, b in zip(_weights(straight), _weights(second), strict=True):
        assert torch.equal(a, b)
    # and the run really moved: a different seed gives different weights
    other = _trainer(None, 20, num_workers=workers, seed=1)
    other.fit()
    assert not torch.equal(_weights(other)[0], _weights(straight)[0])


def test_workers_do_not_change_the_result() -> None:
    a, b = _trainer(None, 8, num_workers=0), _trainer(None, 8, num_workers=2)
    a.fit()
    b.fit()
    for x, y in zip(_weights(a), _weights(b), strict=True):
        assert torch.equal(x, y)


def test_iter_size_equals_the_larger_batch() -> None:
    """SGD without BatchNorm or dropout: iter_size 2 at batch 4 == one batch of 8."""
    solver2 = SolverConfig(type="sgd", lr=SOLVER.lr, weight_decay=1e-4, iter_size=2)
    big = _trainer(None, 6, batch_size=8, net=toy_net(0.0), shuffle=False)
    acc = _trainer(None, 6, batch_size=4, net=toy_net(0.0), shuffle=False, solver=solver2)
    before = _weights(big)
    big.fit()
    acc.fit()
    for x, y in zip(_weights(big), _weights(acc), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
    assert not torch.equal(_weights(big)[0], before[0])


def test_clipping_bounds_the_update(tmp_path: Path) -> None:
    solver = SolverConfig(
        type="sgd", lr=LRPolicy(base_lr=1.0), momentum=0.0, weight_decay=0, clip_gradients=0.01
    )
    t = _trainer(None, 1, solver=solver, net=toy_net(0.0), display=1)
    before = _weights(t)
    result = t.fit()
    step = torch.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(before, _weights(t), strict=True)))
    assert float(step) == pytest.approx(0.01, rel=1e-4)
    assert result.train["grad_norm"] > 0.01  # the raw gradient was larger


def test_sigint_snapshots_and_stops(tmp_path: Path) -> None:
    calls = {"n": 0}

    def step(net: nn.Module, batch: object) -> dict[str, torch.Tensor]:
        calls["n"] += 1
        if calls["n"] == 4:
            os.kill(os.getpid(), signal.SIGINT)
        return mse_step(net, batch)  # type: ignore[arg-type]

    loop = LoopConfig(max_iter=50, batch_size=8, out_dir=tmp_path)
    t = Trainer(toy_net(), NoisyPoints(), step, SOLVER, loop)
    # what was there before: Python's default, or SIG_IGN when the suite runs as a background
    # job of a shell without job control (it inherits an ignored SIGINT)
    before = signal.getsignal(signal.SIGINT)
    result = t.fit()
    assert result.interrupted and result.iteration == 4
    assert latest_snapshot(tmp_path).name == "iter_00000004.pt"
    # the handler is gone afterwards: Ctrl-C behaves as it did before the run
    assert signal.getsignal(signal.SIGINT) is before


def test_resume_refuses_other_settings_and_foreign_files(tmp_path: Path) -> None:
    _trainer(tmp_path, 2, snapshot_interval=2).fit()
    with pytest.raises(OptionError, match="batch_size 8 now 4"):
        _trainer(tmp_path, 4, batch_size=4).fit(resume=tmp_path)
    bad = tmp_path / "bad.pt"
    torch.save({"model": 1}, bad)
    with pytest.raises(BundleError, match="not a decaf snapshot"):
        _trainer(tmp_path, 4).fit(resume=bad)
    bad.write_bytes(b"not a torch file")
    with pytest.raises(BundleError, match="not a decaf snapshot"):
        _trainer(tmp_path, 4).fit(resume=bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DecafError, match="no snapshots"):
        _trainer(tmp_path, 4).fit(resume=tmp_path / "empty")


def test_keeps_only_the_newest_snapshots(tmp_path: Path) -> None:
    _trainer(tmp_path, 10, snapshot_interval=2, keep_snapshots=2).fit()
    names = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert names == ["iter_00000008.pt", "iter_00000010.pt"]


def test_a_diverging_loss_stops_with_a_clear_error() -> None:
    solver = SolverConfig(type="sgd", lr=LRPolicy(base_lr=1e6))
    with pytest.raises(DecafError, match="loss became"):
        _trainer(None, 30, solver=solver, display=1).fit()


def test_sampler_shards_ranks_and_starts_mid_epoch() -> None:
    ranks = [ResumableBatchSampler(10, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    b0, b1 = list(ranks[0]), list(ranks[1])
    assert len(b0) == len(b1) == 2
    seen = [i for batch in b0 + b1 for i, _ in batch]
    assert len(set(seen)) == 8  # disjoint slices of one permutation
    ranks[0].start_batch = 1
    assert list(ranks[0]) == b0[1:]
    small = ResumableBatchSampler(3, 8)
    assert len(list(small)) == 1 and len(list(small)[0]) == 8
