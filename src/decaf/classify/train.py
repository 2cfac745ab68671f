"""The Flickr-Style fine-tuning recipe on the shared training engine.

Caffe's recipe (examples/finetune_flickr_style): start from ImageNet weights, replace the last
layer by a new one sized for the new classes, give the new layer 10× the learning rate (its
biases 20×, no decay), train everything else at a low base rate with the step policy. Here the
same, for any zoo backbone: :class:`FinetuneOptions` defaults to SGD momentum 0.9, weight decay
5e-4 on weights only, head ×10, a step down by 10× at 60 % of the run, and optionally freezes the
backbone (``freeze=-1``) or its first k stages. ``scratch=True`` trains the same network from
random weights with the same budget, for comparison.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from decaf.classify import model as cmodel
from decaf.core import checks
from decaf.core.bundle import check_bundle_dest, plain
from decaf.core.devices import check_device_name
from decaf.core.errors import OptionError
from decaf.data.folders import ImageDataset, ImageSet, auto_workers, scan, split
from decaf.data.transforms import eval_transform, train_transform
from decaf.train.loop import LoopConfig, Trainer, TrainResult, set_seed
from decaf.train.schedules import LRPolicy
from decaf.train.solver import ParamRule, SolverConfig
from decaf.zoo.registry import weights_source


@dataclass(frozen=True)
class FinetuneOptions:
    backbone: str = "efficientnet_lite0"
    epochs: float | None = None  # one of epochs / iters; default 10 epochs
    iters: int | None = None
    batch: int = 32
    base_lr: float = 0.01
    head_lr_mult: float = 10.0
    solver: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    policy: str = "step"
    gamma: float = 0.1
    stepsize: int | None = None  # default: 60 % of the run
    warmup_iters: int = 0
    freeze: int | None = None  # -1 = whole backbone, k = stem + first k stages
    scratch: bool = False
    weights: str | None = None  # a user weights file for the backbone
    size: int | None = None  # input size; default: the backbone's
    crop_scale: tuple[float, float] = (0.35, 1.0)
    label_smoothing: float = 0.0
    val_fraction: float = 0.2  # used when no validation set is given
    workers: int | None = None  # None: auto_workers()
    seed: int = 0
    test_interval: int = 0
    snapshot_interval: int = 0
    display: int = 10
    clip_gradients: float | None = None
    iter_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"  #: auto (the local GPU when there is one) | cpu | cuda | cuda:N

    on_bad_file: str = "skip"  #: skip | stop: what an unreadable picture does

    def __post_init__(self) -> None:
        """Checked on construction, so Python users get the CLI's errors before any work."""
        checks.one_of("--on-bad-file", self.on_bad_file, ("skip", "stop"))
        if self.epochs is not None and self.iters is not None:
            raise OptionError("give --epochs or --iters, not both")
        if self.epochs is not None:
            checks.positive("--epochs", self.epochs)
        if self.iters is not None:
            checks.at_least("--iters", self.iters, 1)
        checks.positive("--base-lr", self.base_lr)
        checks.non_negative("--head-lr-mult", self.head_lr_mult)
        checks.non_negative("--weight-decay", self.weight_decay)
        checks.in_range("momentum", self.momentum, 0, 0.999)
        checks.positive("--gamma", self.gamma)
        checks.at_least("--batch", self.batch, 1)
        checks.at_least("--iter-size", self.iter_size, 1)
        if not (0 <= self.label_smoothing < 1):
            raise OptionError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        checks.in_range("val_fraction", self.val_fraction, 0.01, 0.99)
        if self.size is not None:
            checks.at_least("--size", self.size, 16)
        if self.stepsize is not None:
            checks.at_least("--stepsize", self.stepsize, 1)
        if self.clip_gradients is not None:
            checks.positive("--clip-gradients", self.clip_gradients)
        for name in ("seed", "test_interval", "snapshot_interval", "display", "warmup_iters"):
            checks.at_least(name.replace("_", "-"), getattr(self, name), 0)
        if self.workers is not None:
            checks.at_least("--workers", self.workers, 0)
        if self.freeze is not None:
            checks.at_least("--freeze", self.freeze, -1)
        check_device_name(self.device)

    def validate(self) -> None:
        """Construction already checked everything; kept for callers of earlier releases."""
        self.__post_init__()


def classification_step(label_smoothing: float = 0.0) -> Callable[[nn.Module, Any], dict]:
    def step(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        logits = net(x.contiguous(memory_format=torch.channels_last))
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=label_smoothing)
        acc = (logits.detach().argmax(-1) == y).float().mean()
        return {"loss": loss, "accuracy": acc}

    return step


def validation_fn(
    data: ImageSet, prep: dict[str, Any], batch: int, workers: int
) -> Callable[[nn.Module], dict[str, float]]:
    """Loss, top-1 and top-5 of a model on ``data`` with evaluation preprocessing."""
    transform = eval_transform(prep["input_size"], prep["mean"], prep["std"], prep["crop_pct"])
    loader = DataLoader(
        ImageDataset(data, transform), batch_size=batch, num_workers=workers,
        persistent_workers=workers > 0,
    )  # fmt: skip

    def evaluate(model: nn.Module) -> dict[str, float]:
        loss = top1 = top5 = 0.0
        n = 0
        device = next(model.parameters()).device  # the Trainer's: CPU or the rank's GPU
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x.contiguous(memory_format=torch.channels_last))
            loss += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            top = logits.topk(min(5, logits.shape[-1]), -1).indices
            top1 += float((top[:, 0] == y).sum())
            top5 += float((top == y[:, None]).any(-1).sum())
            n += len(y)
        return {"loss": loss / n, "top1": top1 / n, "top5": top5 / n}

    return evaluate


def plan_iterations(options: FinetuneOptions, train_size: int) -> int:
    per_epoch = max(1, train_size // options.batch)
    if options.iters is not None:
        return options.iters
    return max(1, math.ceil((options.epochs if options.epochs is not None else 10) * per_epoch))


def finetune(
    train: str | os.PathLike | ImageSet,
    val: str | os.PathLike | ImageSet | None,
    out: str | os.PathLike,
    options: FinetuneOptions = FinetuneOptions(),  # noqa: B008 (frozen dataclass)
    run_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``options.backbone`` on ``train`` and write a bundle to ``out``.

    Returns a summary (data, iterations, timings, final metrics, paths). When the run is stopped
    (Ctrl-C / SIGTERM) no bundle is written; the summary has ``interrupted`` and the snapshot to
    resume from.
    """
    out = check_bundle_dest(out)
    train_set, val_set = _datasets(train, val, options)
    workers = auto_workers() if options.workers is None else options.workers
    run = Path(run_dir) if run_dir is not None else out.with_suffix(".run")
    prep = cmodel.preprocessing(options.backbone, options.size)
    set_seed(options.seed)  # the new head's initial weights, too, follow --seed
    model = cmodel.build(
        options.backbone, len(train_set.classes), pretrained=not options.scratch,
        weights=options.weights,
    )  # fmt: skip
    frozen = cmodel.freeze(model, options.freeze)
    max_iter = plan_iterations(options, len(train_set))
    loop = LoopConfig(
        max_iter=max_iter, batch_size=options.batch, display=options.display,
        test_interval=options.test_interval, snapshot_interval=options.snapshot_interval,
        out_dir=run, seed=options.seed, num_workers=workers, progress=progress,
        device=None if options.device == "auto" else options.device,
    )  # fmt: skip
    transform = train_transform(prep["input_size"], prep["mean"], prep["std"], options.crop_scale)
    model = model.to(memory_format=torch.channels_last)
    trainer = Trainer(
        model, ImageDataset(train_set, transform), classification_step(options.label_smoothing),
        _solver(options, model, max_iter), loop,
        evaluate=validation_fn(val_set, prep, options.batch, workers),
        extra_state=lambda: {"classes": train_set.classes}, log=log,
    )  # fmt: skip
    if log and trainer.world.is_main:
        init = "random" if options.scratch else (options.weights or
                                                 weights_source(options.backbone))  # fmt: skip
        log(f"train: {train_set.summary()}\nval: {val_set.summary()}\n{options.backbone} "
            f"({init} init), {max_iter} iterations of batch {options.batch}, "
            f"{sum(p.numel() for p in model.parameters()) - frozen:,} trainable "
            "parameters")  # fmt: skip
    result: TrainResult = trainer.fit(resume=resume)
    summary = _summary(options, train_set, val_set, result, max_iter, run, trainer.world.rank)
    if result.interrupted or not trainer.world.is_main:
        return summary  # one process (rank 0) writes the bundle
    opts = {k: v for k, v in asdict(options).items() if k != "extra"}
    cmodel.save(model, out, options.backbone, train_set.classes, prep,
                metrics={"val": result.eval, "train": result.train},
                provenance={"data": {"train": train_set.source, "val": val_set.source},
                            "iterations": result.iteration, "recipe": plain(opts),
                            "init": summary["init"]})  # fmt: skip
    summary["bundle"] = str(out)
    return summary


def _datasets(train: str | os.PathLike | ImageSet, val: str | os.PathLike | ImageSet | None,
              options: FinetuneOptions) -> tuple[ImageSet, ImageSet]:  # fmt: skip
    """The training and validation sets (a seeded split of ``train`` when ``val`` is None)."""
    train_set = (
        train if isinstance(train, ImageSet) else scan(train, on_bad_file=options.on_bad_file)
    )
    if val is None:
        return split(train_set, options.val_fraction, options.seed)
    val_set = val if isinstance(val, ImageSet) else scan(val, on_bad_file=options.on_bad_file)
    if len(val_set.classes) != len(train_set.classes):
        raise OptionError(f"{val_set.source} has {len(val_set.classes)} classes, "
                          f"{train_set.source} has {len(train_set.classes)}")  # fmt: skip
    return train_set, val_set


def _solver(options: FinetuneOptions, model: nn.Module, max_iter: int) -> SolverConfig:
    """Caffe's fine-tuning recipe: the head at ``head_lr_mult``, no decay on 1-d parameters."""
    policy = LRPolicy(options.policy, base_lr=options.base_lr, gamma=options.gamma,
                      stepsize=options.stepsize or max(1, round(0.6 * max_iter)),
                      max_iter=max_iter, warmup_iters=options.warmup_iters)  # fmt: skip
    return SolverConfig(
        type=options.solver, lr=policy, momentum=options.momentum,
        weight_decay=options.weight_decay,
        rules=[ParamRule(p, options.head_lr_mult, 1.0) for p in cmodel.head_patterns(model)],
        decay_1d=False, iter_size=options.iter_size, clip_gradients=options.clip_gradients,
    )  # fmt: skip


def _summary(options: FinetuneOptions, train_set: ImageSet, val_set: ImageSet,
             result: TrainResult, max_iter: int, run: Path,
             rank: int) -> dict[str, Any]:  # fmt: skip
    wait = round(result.data_wait / result.seconds, 3) if result.seconds else 0
    return {
        "backbone": options.backbone, "init": "scratch" if options.scratch else "pretrained",
        "classes": train_set.classes, "train_images": len(train_set),
        "val_images": len(val_set),
        "skipped": [str(p) for p, _ in train_set.skipped + val_set.skipped],
        "iterations": result.iteration, "max_iter": max_iter,
        "seconds": round(result.seconds, 2),
        "images_per_second": round(result.images_per_second, 2), "data_wait_fraction": wait,
        "train": result.train, "val": result.eval, "interrupted": result.interrupted,
        "rank": rank, "run_dir": str(run),
        "snapshot": str(result.snapshot) if result.snapshot else None,
    }  # fmt: skip
