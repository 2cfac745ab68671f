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


def _settings(**env: str) -> list:
    code = ("import json, os; from decaf.core.threads import configure; s = configure(); "
            "import torch; print(json.dumps([s.threads, os.environ.get('OMP_WAIT_POLICY'), "
            "torch.get_num_threads(), s.source]))")  # fmt: skip
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "DECAF_THREADS",
                         "DECAF_WAIT_POLICY")}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env},
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)


def test_thread_settings_follow_the_user_and_reach_torch() -> None:
    cores = len(os.sched_getaffinity(0))
    assert _settings(DECAF_WAIT_POLICY="passive") == [cores, "PASSIVE", cores, "environment"]
    assert _settings(DECAF_WAIT_POLICY="spin") == [cores, None, cores, "environment"]
    assert _settings(OMP_WAIT_POLICY="ACTIVE", DECAF_THREADS="1") == [1, "ACTIVE", 1,
                                                                       "environment"]  # fmt: skip
    threads, policy, torch_threads, source = _settings()
    assert source == "measured" and policy in (None, "PASSIVE") and threads == torch_threads


def test_a_busy_core_is_seen() -> None:
    """The measurement behind the wait policy: a spinning process shows as a busy core."""
    import multiprocessing as mp

    from decaf.core.threads import busy_cores

    quiet = busy_cores(0.2)
    assert quiet is not None and quiet >= 0
    ctx = mp.get_context("spawn")
    spinning = ctx.Event()
    spinner = ctx.Process(target=_spin, args=(spinning,), daemon=True)
    spinner.start()
    try:
        # measure only once the child spins: a spawned child first re-imports this module,
        # which on a loaded machine can outlast any fixed sleep
        assert spinning.wait(60), "the spinning process did not start"
        seen = busy_cores(0.3)
    finally:
        spinner.terminate()
        spinner.join()
    assert seen is not None and seen >= 0.7


def _spin(spinning: object) -> None:  # pragma: no cover - runs in the child
    spinning.set()  # type: ignore[attr-defined]
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648
