"""The one picture↔tensor conversion, and the thread settings decided before torch starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from decaf.core.tensors import to_batch, to_pil, to_tensor, to_uint8


def test_round_trip_is_exact_and_rounds_on_the_way_back() -> None:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = to_tensor(Image.fromarray(arr))
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32 and type(x) is torch.Tensor
    assert torch.equal(x, torch.from_numpy(arr).permute(2, 0, 1).float() / 255)
    assert np.array_equal(to_uint8(x), arr) and np.array_equal(np.asarray(to_pil(x[None])), arr)
    assert to_batch(arr).shape == (1, 3, 5, 7)
    # 0.5/255 below a level rounds up; torchvision's to_pil_image would truncate it down
    almost = torch.full((3, 1, 1), 99.6 / 255)
    assert to_uint8(almost).item(0) == 100
    grey = Image.fromarray(arr[..., 0])  # L mode becomes RGB
    assert to_tensor(grey).shape == (3, 5, 7)


def test_threads_default_to_passive_waiting_and_respect_the_user() -> None:
    code = ("import json, os; from decaf.core.threads import configure; s = configure(); "
            "import torch; print(json.dumps([s.threads, os.environ['OMP_WAIT_POLICY'], "
            "torch.get_num_threads(), s.source]))")  # fmt: skip
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "DECAF_THREADS")}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    threads, policy, torch_threads, source = json.loads(out.stdout)
    assert policy == "PASSIVE" and source == "default"
    assert threads == torch_threads == len(os.sched_getaffinity(0))
    env.update(OMP_WAIT_POLICY="ACTIVE", DECAF_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert json.loads(out.stdout) == [1, "ACTIVE", 1, "environment"]
