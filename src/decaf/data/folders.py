"""Labelled image sets: a folder per class, or a Caffe list file ("path label" per line).

:func:`scan` turns either into an :class:`ImageSet` — paths, integer labels, class names — and
checks it the way a user needs: a missing or empty folder, a class folder with no images and a
malformed list line are :class:`DataError` naming the problem. Files that are not readable
pictures (checked from their header at scan time, and again when decoded) are *skipped* and
listed in ``ImageSet.skipped``, never a crash in the middle of an epoch.

List files follow Caffe's ImageData layer: the label is the last space-separated field (so paths
may contain spaces), paths are relative to ``root`` (default: the list file's folder), labels are
integers from 0. Class names come from a ``classes.txt`` beside the list when there is one.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from decaf.core import checks
from decaf.core.errors import DecafError, ImageError
from decaf.core.images import find_pictures, load_image

#: The most classes a dataset may have (ImageNet-21k has 21 841): a list file's labels index
#: them, so one stray huge label would otherwise make that many class names.
MAX_CLASSES = 100_000


def auto_workers() -> int:
    """DataLoader workers worth starting here: none on ≤ 2 cores, where decoding in the training
    process was measured faster (benchmarks/train_throughput.py: 58 vs 50 images/s with one
    worker), else half the cores up to 4."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else min(4, cores // 2)


class DataError(DecafError):
    """A dataset that cannot be used as given."""


@dataclass
class ImageSet:
    """Labelled pictures: ``samples[i] = (path, label)``, ``classes[label]`` its name."""

    samples: list[tuple[Path, int]]
    classes: list[str]
    source: str
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    #: what an unreadable picture does: "skip" (left out, counted, named at the end) or "stop"
    #: (a DataError naming it, before anything is written)
    on_bad_file: str = "skip"

    def __len__(self) -> int:
        return len(self.samples)

    def bad_file(self, path: Path, why: str) -> None:
        """One unreadable picture met: raise under "stop", else remember it."""
        if self.on_bad_file == "stop":
            raise DataError(f"{path}: {why} (--on-bad-file stop; use skip to leave such files out)")
        self.skipped.append((path, why))

    def counts(self) -> list[int]:
        out = [0] * len(self.classes)
        for _, label in self.samples:
            out[label] += 1
        return out

    def summary(self) -> str:
        text = f"{len(self)} images in {len(self.classes)} classes from {self.source}"
        if self.skipped:
            names = ", ".join(f"{p.name} ({why})" for p, why in self.skipped[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += f"; skipped {len(self.skipped)} unreadable: {names}{more}"
        return text

    def subset(self, indices: Sequence[int], source: str) -> ImageSet:
        return ImageSet([self.samples[i] for i in indices], self.classes, source, [],
                        self.on_bad_file)  # fmt: skip

    def aligned_to(self, classes: Sequence[str]) -> ImageSet:
        """The same pictures with labels that index ``classes`` (a model's), matched by name.

        A list file without ``classes.txt`` names its classes by their digits: those are
        already indices. A class the model does not know is a :class:`DataError`."""
        classes = list(classes)
        if self.classes == classes:
            return self
        if all(c.isdigit() for c in self.classes) and len(self.classes) <= len(classes):
            return ImageSet(self.samples, classes, self.source, self.skipped, self.on_bad_file)
        unknown = sorted(set(self.classes) - set(classes))
        if unknown:
            raise DataError(f"{self.source}: classes {unknown[:5]} are not among the model's "
                            f"({', '.join(classes)})")  # fmt: skip
        where = {name: i for i, name in enumerate(classes)}
        samples = [(p, where[self.classes[label]]) for p, label in self.samples]
        return ImageSet(samples, classes, self.source, self.skipped, self.on_bad_file)


def _header_problem(path: Path) -> str | None:
    """Why ``path`` is not a picture, from its header alone (cheap), or ``None``."""
    try:
        if path.stat().st_size == 0:
            return "empty file"
        with Image.open(path) as img:
            img.size  # noqa: B018  (parsing the header is the check)
    except UnidentifiedImageError:
        return "not a picture"
    except OSError as exc:
        return str(exc).split(":")[0] or "unreadable"
    return None


def from_folder(root: str | os.PathLike) -> ImageSet:
    """A folder with one subfolder of pictures per class (class names sorted, as torchvision)."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (give a folder of class folders or a list file)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class folders inside (expected ROOT/<class>/<image>)")
    samples: list[tuple[Path, int]] = []
    skipped: list[tuple[Path, str]] = []
    for label, name in enumerate(classes):
        files = find_pictures(root / name)
        good = 0
        for path in files:
            problem = _header_problem(path)
            if problem:
                skipped.append((path, problem))
            else:
                samples.append((path, label))
                good += 1
        if good == 0:
            raise DataError(f"{root / name}: class {name!r} has no readable images")
    return ImageSet(samples, classes, str(root), skipped)


def from_list(list_file: str | os.PathLike, root: str | os.PathLike | None = None) -> ImageSet:
    """A Caffe ImageData list file: ``relative/path.jpg LABEL`` per line."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise DataError(f"{list_file}: no such list file")
    base = Path(root) if root is not None else list_file.parent
    samples: list[tuple[Path, int]] = []
    skipped: list[tuple[Path, str]] = []
    try:
        lines = list_file.read_text().splitlines()
    except UnicodeDecodeError:
        raise DataError(f"{list_file}: not a text list file") from None
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, label_text = line.strip().rpartition(" ")
        try:
            if not sep or not name.strip():
                raise ValueError
            label = int(label_text)
            if label < 0:
                raise ValueError
        except ValueError:
            raise DataError(
                f"{list_file}:{number}: expected 'path label' with an integer label ≥ 0, "
                f"got {line.strip()!r}"
            ) from None
        if label >= MAX_CLASSES:  # class names are made for every label up to the largest
            raise DataError(f"{list_file}:{number}: label {label} is beyond the "
                            f"{MAX_CLASSES:,} classes decaf handles; labels count from "
                            "0")  # fmt: skip
        path = Path(name.strip())
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            skipped.append((path, "missing"))
            continue
        problem = _header_problem(path)
        if problem:
            skipped.append((path, problem))
        else:
            samples.append((path, label))
    if not samples:
        raise DataError(f"{list_file}: no readable images listed")
    n_classes = max(label for _, label in samples) + 1
    names_file = list_file.parent / "classes.txt"
    classes = [str(i) for i in range(n_classes)]
    if names_file.is_file():
        names = [n.strip() for n in names_file.read_text().splitlines() if n.strip()]
        if len(names) >= n_classes:
            classes = names
    return ImageSet(samples, classes, str(list_file), skipped)


BAD_FILE_POLICIES = ("skip", "stop")


def scan(src: str | os.PathLike, root: str | os.PathLike | None = None,
         on_bad_file: str = "skip") -> ImageSet:  # fmt: skip
    """A folder of class folders or a list file, whichever ``src`` is. ``on_bad_file`` says
    what an unreadable picture does, found now from its header or later when decoded:
    ``skip`` leaves it out and reports it at the end, ``stop`` ends the job naming it."""
    checks.one_of("--on-bad-file", on_bad_file, BAD_FILE_POLICIES)
    path = Path(src)
    data = from_list(path, root) if path.is_file() else from_folder(path)
    data.on_bad_file = on_bad_file
    if on_bad_file == "stop" and data.skipped:
        bad, why = data.skipped[0]
        more = f" (and {len(data.skipped) - 1} more)" if len(data.skipped) > 1 else ""
        raise DataError(f"{bad}: {why}{more} (--on-bad-file stop; use skip to leave such files "
                        "out)")  # fmt: skip
    return data


def split(data: ImageSet, val_fraction: float, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """Stratified split: each class gives ``val_fraction`` of its images (at least one) to val."""
    import random

    if not 0 < val_fraction < 1:
        raise DataError(f"validation fraction must be between 0 and 1, got {val_fraction}")
    rng = random.Random(seed)
    train_idx: list[int] = []
    val_idx: list[int] = []
    by_class: dict[int, list[int]] = {}
    for i, (_, label) in enumerate(data.samples):
        by_class.setdefault(label, []).append(i)
    for label, idx in sorted(by_class.items()):
        if len(idx) < 2:
            raise DataError(
                f"class {data.classes[label]!r} has {len(idx)} image; a split needs at least 2"
            )
        rng.shuffle(idx)
        k = max(1, round(len(idx) * val_fraction))
        val_idx += idx[:k]
        train_idx += idx[k:]
    return (
        data.subset(sorted(train_idx), f"{data.source} (train split)"),
        data.subset(sorted(val_idx), f"{data.source} (val split)"),
    )


class ImageDataset(Dataset):
    """``(transform(picture), label)`` pairs from an :class:`ImageSet`.

    A picture that fails to decode (e.g. a truncated JPEG whose header looked fine) is replaced by
    the next readable one and reported once with a warning, so an epoch never dies halfway.
    """

    def __init__(
        self,
        data: ImageSet,
        transform: Callable[[Image.Image], Any] | None = None,
        max_pixels: int | None = None,
    ) -> None:
        self.data = data
        self.transform = transform
        self.max_pixels = max_pixels
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.data)

    def load(self, index: int) -> tuple[Image.Image, int]:
        n = len(self.data)
        for step in range(n):
            i = (index + step) % n
            if i in self._bad:
                continue
            path, label = self.data.samples[i]
            try:
                kwargs = {} if self.max_pixels is None else {"max_pixels": self.max_pixels}
                return load_image(path, **kwargs), label
            except ImageError as exc:
                if self.data.on_bad_file == "stop":
                    raise DataError(f"{exc} (--on-bad-file stop)") from None
                self._bad.add(i)
                warnings.warn(f"skipping unreadable image: {exc}", stacklevel=2)
        raise DataError(f"{self.data.source}: none of the images can be read")

    def __getitem__(self, index: int) -> tuple[Any, int]:
        img, label = self.load(index)
        return (self.transform(img) if self.transform else img), label
