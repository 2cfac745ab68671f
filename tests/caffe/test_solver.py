"""Caffe's update rules, snapshots and a real training run (LeNet on handwritten digits)."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decaf.caffe import io as cio
from decaf.caffe.data import write_lmdb
from decaf.caffe.solver import Solver

SHARED = Path(__file__).resolve().parents[3] / "shared" / "caffe" / "bvlc"

NET = """
name: "one"
layer { name: "in" type: "Input" top: "x" top: "t" input_param { shape { dim: 1 dim: 1 } } }
layer { name: "w" type: "Scale" bottom: "x" top: "y" param { lr_mult: 2 }
  scale_param { filler { type: "constant" value: 1 } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "t" top: "loss" }
"""


def _solver(tmp: Path, extra: str) -> Solver:
    (tmp / "net.prototxt").write_text(NET)
    (tmp / "solver.prototxt").write_text(f'net: "net.prototxt"\n{extra}\n')
    solver = Solver(tmp / "solver.prototxt")
    solver.net.inputs.clear()  # feed x=2, t=0 through a tiny data hook
    return solver


def _run(solver: Solver, n: int) -> list[float]:
    weights = []
    layer = solver.net.layer_by_name("w")
    orig = solver.net.forward

    def forward(**_: object) -> dict:
        return orig(x=torch.full((1, 1), 2.0), t=torch.zeros(1, 1))

    solver.net.forward = forward  # type: ignore[method-assign]
    for _ in range(n):
        solver.step(1)
        weights.append(float(layer.blobs[0].detach()))
    return weights


def _grad(w: float) -> float:
    # loss = (2w - 0)² / 2  →  dL/dw = 4w
    return 4 * w


@pytest.mark.parametrize("kind", ["SGD", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"])
def test_update_rules_match_hand_computed_caffe(tmp_path: Path, kind: str) -> None:
    extra = (
        f'type: "{kind}" base_lr: 0.1 lr_policy: "step" gamma: 0.5 stepsize: 2 momentum: 0.9 '
        "weight_decay: 0.01 momentum2: 0.99 delta: 1e-6 rms_decay: 0.9"
    )
    got = _run(_solver(tmp_path, extra), 4)
    w, h, h2, m, v = 1.0, 0.0, 0.0, 0.0, 0.0
    expect = []
    for it in range(4):
        rate = 0.1 * 0.5 ** (it // 2) * 2  # lr_mult 2
        g = _grad(w) + 0.01 * w
        mu, delta = 0.9, 1e-6
        if kind == "SGD":
            h = mu * h + rate * g
            step = h
        elif kind == "Nesterov":
            old = h
            h = mu * h + rate * g
            step = (1 + mu) * h - mu * old
        elif kind == "AdaGrad":
            h += g * g
            step = rate * g / (math.sqrt(h) + delta)
        elif kind == "RMSProp":
            h = 0.9 * h + 0.1 * g * g
            step = rate * g / (math.sqrt(h) + delta)
        elif kind == "AdaDelta":
            h = mu * h + (1 - mu) * g * g
            u = g * math.sqrt((h2 + delta) / (h + delta))
            h2 = mu * h2 + (1 - mu) * u * u
            step = rate * u
        else:
            m = mu * m + (1 - mu) * g
            v = 0.99 * v + 0.01 * g * g
            t = it + 1
            step = rate * math.sqrt(1 - 0.99**t) / (1 - mu**t) * m / (math.sqrt(v) + delta)
        w -= step
        expect.append(w)
    np.testing.assert_allclose(got, expect, rtol=1e-5)


def test_sgd_keeps_the_rate_inside_momentum_unlike_torch(tmp_path: Path) -> None:
    """After the step at iteration 2, Caffe's update differs from torch.optim.SGD's."""
    got = _run(_solver(tmp_path, 'base_lr: 0.1 lr_policy: "step" gamma: 0.1 stepsize: 2 '
                                 "momentum: 0.9"), 3)  # fmt: skip
    p = torch.nn.Parameter(torch.tensor(1.0))
    opt = torch.optim.SGD([p], lr=0.2, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2, 0.1)
    torch_w = []
    for _ in range(3):
        opt.zero_grad()
        ((2 * p) ** 2 / 2).backward()
        opt.step()
        sched.step()
        torch_w.append(float(p.detach()))
    assert got[:2] == pytest.approx(torch_w[:2], rel=1e-5)
    assert got[2] != pytest.approx(torch_w[2], rel=1e-3)


def test_snapshot_restore_continues_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # snapshot_prefix "snap" is relative to the working folder
    extra = 'type: "Adam" base_lr: 0.05 lr_policy: "fixed" momentum: 0.9 snapshot_prefix: "snap"'
    a = _solver(tmp_path, extra)
    straight = _run(a, 6)
    b = _solver(tmp_path, extra)
    _run(b, 3)
    _, state = b.snapshot()
    c = _solver(tmp_path, extra)
    c.restore(state)
    assert c.iter == 3
    assert _run(c, 3) == pytest.approx(straight[3:], rel=1e-6)
    assert len(cio.parse_binary(state, cio.PROTO.SolverState()).history) == 2  # m and v


def _digits_lmdb(root: Path) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16 * 255).astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(images))
    for split, ids in (("test", order[:400]), ("train", order[400:])):
        (root / split).mkdir()
        samples = []
        for i in ids:
            path = root / split / f"{i}.png"
            Image.fromarray(images[i]).resize((28, 28), Image.BILINEAR).save(path)
            samples.append((path, int(digits.target[i])))
        write_lmdb(samples, root / f"mnist_{split}_lmdb", gray=True)


@pytest.mark.slow
def test_lenet_from_the_bvlc_prototxts_learns_digits(tmp_path: Path) -> None:
    """lenet_train_test.prototxt + lenet_solver.prototxt, unchanged but for the run length."""
    pytest.importorskip("sklearn")
    if not SHARED.is_dir():
        pytest.skip("../shared/caffe is not present")
    _digits_lmdb(tmp_path)
    shutil.copy(SHARED / "examples/mnist/lenet_train_test.prototxt", tmp_path)
    text = (SHARED / "examples/mnist/lenet_solver.prototxt").read_text()
    text = text.replace("max_iter: 10000", "max_iter: 1000").replace(
        "test_iter: 100", "test_iter: 4"
    )
    (tmp_path / "lenet_solver.prototxt").write_text(text.replace("snapshot: 5000", "snapshot: 0"))
    torch.manual_seed(0)
    solver = Solver(tmp_path / "lenet_solver.prototxt")
    scores = solver.solve()
    assert scores["accuracy"] >= 0.97, scores
    assert (tmp_path / "lenet_iter_1000.caffemodel").is_file()


DDP_NET = """
layer {{ name: "d" type: "Data" top: "data" top: "label" transform_param {{ scale: 0.01 }}
  data_param {{ source: "db" batch_size: {batch} backend: LMDB }} }}
layer {{ name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param {{ num_output: 3 weight_filler {{ type: "gaussian" std: 0.1 }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }}
"""


def _tiny_lmdb(root: Path, n: int) -> None:
    """``root/db``: n random 4×4 grey pictures in 3 classes."""
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        path = root / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (4, 4), dtype=np.uint8)).save(path)
        samples.append((path, i % 3))
    write_lmdb(samples, root / "db", gray=True)


def test_two_ranks_train_like_one_big_batch(tmp_path: Path) -> None:
    """torchrun, 2 ranks × batch 2 == 1 process × batch 4 (gradients averaged, data sharded)."""
    import os
    import subprocess
    import sys

    _tiny_lmdb(tmp_path, 12)
    for name, batch in (("two", 2), ("one", 4)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "net.prototxt").write_text(DDP_NET.format(batch=batch))
        (folder / "solver.prototxt").write_text(
            'net: "net.prototxt"\nbase_lr: 0.1\nmomentum: 0.9\nlr_policy: "step"\ngamma: 0.5\n'
            "stepsize: 2\nrandom_seed: 3\nmax_iter: 5\n"
        )
        shutil.copytree(tmp_path / "db", folder / "db")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           str(root / "tests" / "caffe" / "ddp_caffe_worker.py"),
           str(tmp_path / "two" / "solver.prototxt"), "5"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(tmp_path / "two" / "rank0.pt")
    r1 = torch.load(tmp_path / "two" / "rank1.pt")
    single = Solver(tmp_path / "one" / "solver.prototxt")
    start = {n: p.detach().clone() for n, p in single.net.named_parameters()}
    single.step(5)
    for name, param in single.net.named_parameters():
        assert torch.equal(r0[name], r1[name]), name
        torch.testing.assert_close(r0[name], param.detach(), rtol=1e-5, atol=1e-6)
        assert not torch.equal(start[name], param.detach())


def test_lmdb_environments_close_with_their_nets(tmp_path: Path) -> None:
    """Train and test nets share one LMDB environment; it closes when the last net goes."""
    import gc

    from decaf.caffe.data import ENVIRONMENTS

    _tiny_lmdb(tmp_path, 6)
    (tmp_path / "net.prototxt").write_text(DDP_NET.format(batch=2))
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt"\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 2\nrandom_seed: 1\n'
    )
    gc.collect()  # solvers of earlier tests, if any are still waiting to be collected
    before = ENVIRONMENTS.count()
    state = torch.get_rng_state()
    solver = Solver(tmp_path / "solver.prototxt")
    assert torch.equal(torch.get_rng_state(), state)  # building never reseeds the caller's RNG
    assert ENVIRONMENTS.count() == before + 1
    solver.step(2)
    del solver
    gc.collect()
    assert ENVIRONMENTS.count() == before


def test_pycaffe_steps_continue_one_metrics_file(tmp_path: Path) -> None:
    """solver.step(n) twice is one run: the second call keeps the first one's metrics rows."""
    import csv

    _tiny_lmdb(tmp_path, 6)
    (tmp_path / "net.prototxt").write_text(DDP_NET.format(batch=2))
    (tmp_path / "solver.prototxt").write_text(
        'net: "net.prototxt"\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 10\n'
    )
    solver = Solver(tmp_path / "solver.prototxt", run_dir=tmp_path / "run")
    solver.step(2)
    solver.step(3)
    assert solver.iter == 5
    with (tmp_path / "run" / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["name"] == "loss"]
    assert [r["iteration"] for r in rows] == ["2", "5"]


def test_huge_declared_inputs_are_refused_before_allocation(tmp_path: Path) -> None:
    from decaf.caffe.layers import CaffeLayerError
    from decaf.caffe.net import CaffeNet
    from decaf.caffe.tools import time_net

    huge = ('layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 100000000 '
            'dim: 3 dim: 224 dim: 224 } } }\n')  # fmt: skip
    with pytest.raises(CaffeLayerError, match="in: blob 'data' of shape .* more than"):
        CaffeNet(cio.read_net(huge))
    (tmp_path / "deploy.prototxt").write_text(
        'layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 '
        "dim: 224 dim: 224 } } }\n"
        'layer { name: "r" type: "ReLU" bottom: "data" top: "out" }\n'
    )
    timed = time_net(tmp_path / "deploy.prototxt", iterations=1, batch=2)
    assert timed["inputs"] == {"data": [2, 3, 224, 224]}
    with pytest.raises(CaffeLayerError, match="more than"):
        time_net(tmp_path / "deploy.prototxt", batch=100_000_000)


def test_a_solver_with_its_net_inline(tmp_path: Path) -> None:
    """``net_param { ... }`` inside the solver builds like a net file (it used to raise)."""
    (tmp_path / "solver.prototxt").write_text(
        f'net_param {{ {NET} }}\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 1\n'
    )
    solver = Solver(tmp_path / "solver.prototxt")
    assert [lp.name for lp in solver.net.layer_params] == ["in", "w", "loss"]
    assert len(solver.param.net_param.layer) == 3  # the solver's own message is untouched


def test_an_empty_net_is_refused(tmp_path: Path) -> None:
    """An empty prototxt used to pass caffe time/test and convert to a 0-layer bundle."""
    from decaf.caffe.layers import CaffeLayerError
    from decaf.caffe.net import CaffeNet

    with pytest.raises(CaffeLayerError, match="no layers in phase TEST"):
        CaffeNet(cio.read_net('name: "empty"\n'))


POLY = """net: "net.prototxt"
base_lr: 0.1
lr_policy: "poly"
power: 1
max_iter: 10
display: 5
snapshot: 5
snapshot_prefix: "{prefix}"
{extra}"""


def _poly_setup(tmp_path: Path, prefix: str = "snaps/s", extra: str = "") -> Path:
    tmp_path.mkdir(exist_ok=True)
    _tiny_lmdb(tmp_path, 6)
    (tmp_path / "net.prototxt").write_text(DDP_NET.format(batch=2))
    solver = tmp_path / "solver.prototxt"
    solver.write_text(POLY.format(prefix=prefix, extra=extra))
    return solver


def test_snapshot_prefix_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Caffe's rule; when the prefix's folder is not there, beside the solver (BVLC's own
    prototxts name folders of the Caffe root)."""
    from decaf.caffe.tools import train

    solver = _poly_setup(tmp_path / "project", prefix="snaps/s")
    work = tmp_path / "work"
    (work / "snaps").mkdir(parents=True)
    monkeypatch.chdir(work)
    train(solver, max_iter=5)
    assert sorted(p.name for p in (work / "snaps").iterdir()) == [
        "s_iter_5.caffemodel", "s_iter_5.solverstate",
    ]  # fmt: skip
    monkeypatch.chdir(tmp_path)  # no snaps/ here: beside the solver, by file name
    train(solver, max_iter=5)
    assert (tmp_path / "project" / "s_iter_5.caffemodel").is_file()


def test_last_snapshot_once_and_final_test_only_on_test_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Caffe's Solve: no second snapshot when `snapshot` divides max_iter; a last test only
    when test_interval divides the last iteration."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "snaps").mkdir()
    solver = _poly_setup(tmp_path, extra="test_iter: 1\ntest_interval: 4\n")
    lines: list[str] = []
    s = Solver(solver, log=lines.append)
    s.solve()
    snapshots = [line for line in lines if line.startswith("Snapshotting")]
    assert len(snapshots) == 2 and "_iter_10." in snapshots[-1]
    tests = [line.split(",")[0] for line in lines if "Testing net" in line]
    assert tests == ["Iteration 0", "Iteration 4", "Iteration 8"]  # not at 10
    s = Solver(solver, log=lines.append)
    s.param.test_interval = 5
    lines.clear()
    s.solve()
    assert [line.split(",")[0] for line in lines if "Testing net" in line][-1] == "Iteration 10"


def test_max_iter_from_the_command_line_reaches_a_resumed_poly_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decaf.caffe.tools import train

    monkeypatch.chdir(tmp_path)
    (tmp_path / "snaps").mkdir()
    solver = _poly_setup(tmp_path)
    train(solver)
    lines: list[str] = []
    done = train(solver, snapshot=tmp_path / "snaps" / "s_iter_10.solverstate", max_iter=20,
                 log=lines.append)  # fmt: skip
    assert done["iterations"] == 20
    shown = {int(x.split(",")[0].split()[1]): float(x.rsplit("lr = ", 1)[1])
             for x in lines if x.startswith("Iteration") and "lr = " in x}  # fmt: skip
    # poly with power 1 over 20 iterations: 0.1 · (1 − it/20)
    assert shown == {10: pytest.approx(0.05), 15: pytest.approx(0.025)}
