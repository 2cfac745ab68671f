"""A short, fixed-budget fuzz pass over every reader (tests/reliability/fuzz.py), the inputs
fuzzing has found so far, and property tests of geometry and option parsing."""

from __future__ import annotations

import base64
import contextlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from decaf.annotate.schema import iou
from decaf.caffe import io as cio
from decaf.caffe.layers import CaffeLayerError, Pooling
from decaf.caffe.proto import caffe_pb2
from decaf.cli.common import split_list
from decaf.core.errors import OptionError
from decaf.stylize.optimize import StyleOptions

pytest.importorskip("atheris")
FUZZ = Path(__file__).with_name("fuzz.py")
TARGETS = ["image", "prototxt", "caffemodel", "binaryproto", "voc_xml", "coco", "bundle"]


@pytest.mark.parametrize("target", TARGETS)
def test_a_short_fuzz_pass_finds_nothing(target: str, tmp_path: Path) -> None:
    """2,000 coverage-guided inputs per reader (the note gives the long runs' figures)."""
    env = {**os.environ, "DECAF_FUZZ_DIR": str(tmp_path)}
    run = subprocess.run([sys.executable, str(FUZZ), target, "-runs=2000", "-max_len=2048",
                          "-seed=1", f"-artifact_prefix={tmp_path}/"],
                         capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done 2000 runs" in run.stderr


# found by the fuzzer: a caffemodel whose layer name is not UTF-8 (protobuf decodes on read)
FOUND = {"caffemodel": ["GhKSAAAAEtra2tra2tra2traEgA="]}


@pytest.mark.parametrize("data", FOUND["caffemodel"])
def test_found_caffemodels_are_refused(data: str, tmp_path: Path) -> None:
    path = tmp_path / "found.caffemodel"
    path.write_bytes(base64.b64decode(data))
    with pytest.raises(cio.CaffeFormatError, match="found.caffemodel"):
        cio.read_weights(path)


boxes = st.tuples(*[st.floats(-1e4, 1e4, allow_nan=False)] * 4).map(
    lambda b: (min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3]))
)


@given(boxes, boxes)
def test_iou_is_symmetric_and_bounded(a: tuple, b: tuple) -> None:
    v = iou(a, b)
    assert 0.0 <= v <= 1.0 + 1e-9 and math.isclose(v, iou(b, a), abs_tol=1e-9)
    if (a[2] - a[0]) * (a[3] - a[1]) > 1e-3:
        assert math.isclose(iou(a, a), 1.0, rel_tol=1e-6)


def _caffe_pooled(n: int, k: int, s: int, p: int) -> int:
    """pooling_layer.cpp, written out independently: ceil, then drop a window starting in the
    padding."""
    out = int(math.ceil((n + 2 * p - k) / s)) + 1
    if p and (out - 1) * s >= n + p:
        out -= 1
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 7), st.integers(1, 4),
       st.integers(0, 3), st.sampled_from(["MAX", "AVE"]))  # fmt: skip
def test_pooling_sizes_follow_caffe_for_any_input(h: int, w: int, k: int, s: int, p: int,
                                                  pool: str) -> None:  # fmt: skip
    lp = caffe_pb2.LayerParameter(name="pool", type="Pooling")
    lp.pooling_param.pool = getattr(caffe_pb2.PoolingParameter, pool)
    lp.pooling_param.kernel_size, lp.pooling_param.stride, lp.pooling_param.pad = k, s, p
    try:
        layer = Pooling(lp, [(1, 2, h, w)], 1)
        (y,) = layer(torch.randn(1, 2, h, w))
    except CaffeLayerError:
        empty_average = pool == "AVE" and k < s  # Caffe divides by zero in its last window
        assert 2 * p > k or k > h + 2 * p or k > w + 2 * p or empty_average
        return  # (or the pad is over half the kernel: Caffe allows up to k - 1, torch k / 2)
    assert 2 * p <= k
    assert tuple(y.shape[2:]) == (_caffe_pooled(h, k, s, p), _caffe_pooled(w, k, s, p))
    assert torch.isfinite(y).all()


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=8))
def test_float_lists_parse_back(values: list[float]) -> None:
    assert split_list(",".join(repr(v) for v in values), float, "--x") == values


@given(st.text(max_size=40))
def test_any_text_is_a_list_or_an_option_error(text: str) -> None:
    with contextlib.suppress(OptionError):  # anything else fails the test
        split_list(text, float, "--x")


@given(st.integers(-100, 5000), st.lists(st.integers(-50, 3000), max_size=5))
def test_pyramids_rise_to_the_size_or_are_refused(size: int, scales: list[int]) -> None:
    try:
        sizes = StyleOptions(size=size, scales=scales or None).pyramid()
    except OptionError:
        return
    assert sizes == sorted(set(sizes)) and sizes[-1] == size and min(sizes) >= 32
