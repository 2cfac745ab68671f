"""Benchmark: the training engine against a bare PyTorch loop doing identical work.

Both sides fine-tune EfficientNet-Lite0 (ImageNet start, new 8-class head, SGD momentum 0.9,
head ×10, step policy) on the same synthetic photo-styles pictures, with the same transforms,
batch size, worker count and number of updates. The bare loop is what one writes by hand: a
shuffling ``DataLoader``, forward, backward, ``step``, ``scheduler.step``. The engine adds its
per-sample seeding (exact resume), data-position bookkeeping, metrics and interrupt handling.

Each round runs both, in alternating order, after a warm-up; the figures are medians over the
rounds of images/s, the engine/bare ratio (goal ≥ 0.95) and the share of wall time each loop
spent waiting for data.

    python benchmarks/train_throughput.py [--rounds 5] [--iters 30] [--batch 16] [--size 128]
                                          [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import busy  # before torch: it chooses torch's thread settings
import torch
from torch import nn
from torch.utils.data import DataLoader

from decaf.classify import model as cmodel
from decaf.classify.train import classification_step
from decaf.data.folders import ImageDataset, scan
from decaf.data.synthetic import photo_styles
from decaf.data.transforms import train_transform
from decaf.train.loop import LoopConfig, Trainer
from decaf.train.schedules import LRPolicy, lr_lambda
from decaf.train.solver import ParamRule, SolverConfig, build_solver


def _model() -> nn.Module:
    torch.manual_seed(0)
    net = cmodel.build("efficientnet_lite0", 8)
    return net.to(memory_format=torch.channels_last)


def _solver(iters: int, net: nn.Module) -> SolverConfig:
    return SolverConfig(
        lr=LRPolicy("step", base_lr=0.01, gamma=0.1, stepsize=max(1, iters * 3 // 5)),
        rules=[ParamRule(p, 10.0) for p in cmodel.head_patterns(net)],
        decay_1d=False,
    )


def bare(dataset: ImageDataset, iters: int, batch: int, workers: int) -> tuple[float, float]:
    """A hand-written loop; returns (images/s, data-wait share)."""
    net = _model()
    cfg = _solver(iters, net)
    opt, _ = build_solver(net, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.lr))
    loader = DataLoader(
        dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
        persistent_workers=workers > 0,
    )  # fmt: skip
    net.train()
    done, wait = 0, 0.0
    start = time.perf_counter()
    while done < iters:
        it = iter(loader)
        while done < iters:
            t0 = time.perf_counter()
            try:
                x, y = next(it)
            except StopIteration:
                break
            wait += time.perf_counter() - t0
            logits = net(x.contiguous(memory_format=torch.channels_last))
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()
            float(loss)  # what a display line reads
            done += 1
    seconds = time.perf_counter() - start
    return iters * batch / seconds, wait / seconds


def engine(dataset: ImageDataset, iters: int, batch: int, workers: int) -> tuple[float, float]:
    net = _model()
    loop = LoopConfig(max_iter=iters, batch_size=batch, num_workers=workers, display=10)
    result = Trainer(net, dataset, classification_step(), _solver(iters, net), loop).fit()
    return result.images_per_second, result.data_wait / result.seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--busy", action="store_true", help="measure beside a process busy on one core")
    args = ap.parse_args()
    with busy.busy_core(args.busy):
        return _run(args)


def _run(args: argparse.Namespace) -> int:

    with tempfile.TemporaryDirectory() as tmp:
        photo_styles(Path(tmp) / "styles", per_class=24, size=160, seed=0)
        data = scan(Path(tmp) / "styles")
        dataset = ImageDataset(data, train_transform(args.size, [0.5] * 3, [0.5] * 3))
        runs: dict[str, list[tuple[float, float]]] = {"bare": [], "engine": []}
        contenders = {"bare": bare, "engine": engine}
        # warm-up: one full run each (allocator, oneDNN kernel caches, page cache)
        engine(dataset, args.iters, args.batch, args.workers)
        bare(dataset, args.iters, args.batch, args.workers)
        for r in range(args.rounds):
            order = ("bare", "engine") if r % 2 == 0 else ("engine", "bare")
            for name in order:
                runs[name].append(contenders[name](dataset, args.iters, args.batch, args.workers))
                if not args.json:
                    ips, w = runs[name][-1]
                    print(f"round {r + 1} {name:6s}: {ips:6.1f} images/s, data wait {w:.1%}")
    ratios = [e[0] / b[0] for e, b in zip(runs["engine"], runs["bare"], strict=True)]
    summary = {
        "config": vars(args),
        "torch_threads": torch.get_num_threads(),
        "wait_policy": busy.SETTINGS.wait_policy,
        "bare_images_per_s": statistics.median(r[0] for r in runs["bare"]),
        "engine_images_per_s": statistics.median(r[0] for r in runs["engine"]),
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
        "bare_data_wait": statistics.median(r[1] for r in runs["bare"]),
        "engine_data_wait": statistics.median(r[1] for r in runs["engine"]),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"\nmedian of {args.rounds}: bare {summary['bare_images_per_s']:.1f} images/s, "
            f"engine {summary['engine_images_per_s']:.1f} images/s, engine/bare "
            f"{summary['ratio_median']:.3f} (rounds: {', '.join(f'{x:.3f}' for x in ratios)}); "
            f"data wait bare {summary['bare_data_wait']:.1%}, "
            f"engine {summary['engine_data_wait']:.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
