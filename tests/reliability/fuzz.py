"""Fuzz harnesses (atheris, coverage-guided) for decaf's readers of untrusted files.

    python tests/reliability/fuzz.py TARGET [libFuzzer flags, e.g. -runs=1000000 -max_len=4096]

TARGET: image, prototxt, caffemodel, binaryproto, voc_xml, coco, bundle. Each input goes through
the reader; decaf's own errors (DecafError) are the expected way to refuse it. Anything else — a
Python exception of another type, a crash, a hang — is a finding: atheris stops and saves the
input. ``tests/reliability/test_fuzz.py`` runs each target briefly in CI.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["decaf"]):
    from decaf.caffe import io as cio
    from decaf.core.bundle import load_bundle
    from decaf.core.errors import DecafError
    from decaf.core.images import load_image
    from decaf.data.annotations import read_xml
    from decaf.detect.data import coco_samples

#: where inputs are written for the readers that take paths (the tests pass their tmp_path)
WORK = Path(os.environ.get("DECAF_FUZZ_DIR") or tempfile.mkdtemp(prefix="decaf_fuzz_"))


def _file(data: bytes, name: str) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


def image(data: bytes) -> None:
    load_image(data, max_pixels=4_000_000)


def prototxt(data: bytes) -> None:
    cio.read_net(data.decode("utf-8", "replace") + "\n")  # as text, then as a file
    cio.read_net(_file(data, "net.prototxt"))


def caffemodel(data: bytes) -> None:
    net = cio.read_weights(_file(data, "w.caffemodel"))
    for layer in net.layer:
        for blob in layer.blobs:
            cio.checked_shape(blob)
            cio.blobproto_to_array(blob)


def binaryproto(data: bytes) -> None:
    cio.read_mean(_file(data, "mean.binaryproto"))


def voc_xml(data: bytes) -> None:
    read_xml(_file(data, "a.xml"))


def coco(data: bytes) -> None:
    _file(data, "instances_train.json")
    coco_samples(WORK, "train")


def bundle(data: bytes) -> None:
    load_bundle(_file(data, "b.pt"))


TARGETS: dict[str, Callable[[bytes], None]] = {
    f.__name__: f for f in (image, prototxt, caffemodel, binaryproto, voc_xml, coco, bundle)
}


def main() -> None:
    target = TARGETS[sys.argv[1]]

    def one(data: bytes) -> None:
        with contextlib.suppress(DecafError):  # refused with a clear message: as promised
            target(data)

    os.chdir(WORK)  # nothing a reader might write lands in the project
    flags = sys.argv[2:]
    if not any(f.startswith("-rss_limit_mb") for f in flags):
        # torch's libraries alone map 1-2.5 GB, past libFuzzer's 2 GB default
        flags.append("-rss_limit_mb=8192")
    atheris.Setup([sys.argv[0], *flags], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
