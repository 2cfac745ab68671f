"""Model bundles and snapshots: one ``.pt`` file, written atomically, read without pickle code.

A *bundle* is what a task hands to users: ``{"format": "decaf-bundle", "version", "task", "arch",
"state_dict", "classes", "preprocessing", "metrics", "provenance", ...}``. A *snapshot* is what the
training engine writes to resume. Both are plain dictionaries of tensors, numbers, strings, lists
and dicts, so :func:`torch.load` runs with ``weights_only=True``: opening a file someone sent you
cannot execute code. Anything else — a foreign checkpoint, a truncated file, a picture renamed
``.pt`` — is refused with a message that says what the file is not.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from decaf.core.errors import DecafError
from decaf.core.images import atomic_write

BUNDLE_FORMAT = "decaf-bundle"
SNAPSHOT_FORMAT = "decaf-snapshot"
VERSION = 1


class BundleError(DecafError):
    """A file that is not a readable decaf bundle or snapshot."""


def save_checked(payload: dict[str, Any], dest: str | os.PathLike, kind: str) -> Path:
    """Write ``payload`` tagged as ``kind`` to ``dest`` atomically (temp file + rename)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    data = plain({"format": kind, "version": VERSION, **payload})
    return atomic_write(dest, lambda tmp: _torch_save(data, tmp))


class _Writes:
    """A file that remembers the OSError of a failed write: torch.save reports a full disk
    as a RuntimeError ("unexpected pos"), which would hide the cause."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.error = fh, None

    def write(self, data: Any) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def _torch_save(data: Any, tmp: Path) -> None:
    with tmp.open("wb") as fh:
        out = _Writes(fh)
        try:
            torch.save(data, out)
        except RuntimeError:
            if out.error is not None:
                raise out.error from None  # the atomic write turns it into a WriteError
            raise


def load_checked(src: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Read a file written by :func:`save_checked` as ``kind``; refuse anything else clearly."""
    path = Path(src)
    what = "bundle" if kind == BUNDLE_FORMAT else "snapshot"
    if not path.is_file():
        raise BundleError(f"{path}: no such {what} file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load on junk raises any type; all mean "not one"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(
            f"{path}: not a decaf {what} (it is not a torch file that loads without running "
            f"code: {first[:200]})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != kind:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise BundleError(f"{path}: not a decaf {what} (format is {found!r}, expected {kind!r})")
    version = data.get("version", 0)
    if not isinstance(version, int):
        raise BundleError(f"{path}: not a decaf {what} (version {version!r} is not a number)")
    if version > VERSION:
        raise BundleError(
            f"{path}: {what} version {data['version']} is newer than this decaf reads ({VERSION})"
        )
    return data


def plain(x: Any) -> Any:
    """Tuples → lists, paths → strings, recursively: what ``weights_only`` loading accepts."""
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if isinstance(x, Path | str):
        return str(x)  # also str subclasses such as torch.__version__, which need an import
    return x


def check_bundle_dest(dest: str | os.PathLike) -> Path:
    """Where a bundle will go, checked before training starts (a .pt file, a writable folder)."""
    from decaf.core.images import writable_file

    return writable_file(dest, (".pt",), "bundle")


def save_bundle(payload: dict[str, Any], dest: str | os.PathLike) -> Path:
    """Write a model bundle; ``payload`` needs at least ``task``, ``arch`` and ``state_dict``."""
    for key in ("task", "arch", "state_dict"):
        if key not in payload:
            raise BundleError(f"a bundle needs {key!r}")
    return save_checked(payload, dest, BUNDLE_FORMAT)


def load_bundle(src: str | os.PathLike, task: str | None = None) -> dict[str, Any]:
    """Read a model bundle; with ``task``, refuse a bundle made for another task."""
    data = load_checked(src, BUNDLE_FORMAT)
    if task is not None and data.get("task") != task:
        raise BundleError(f"{src}: a {data.get('task')!r} bundle, but this needs a {task!r} bundle")
    return data
