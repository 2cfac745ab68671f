"""decaf serve under load: a bounded load generator on 127.0.0.1 that stops by itself.

    .venv/bin/python benchmarks/serve_load.py                 # 60 s at concurrency 8
    .venv/bin/python benchmarks/serve_load.py --seconds 20    # shorter
    .venv/bin/python benchmarks/serve_load.py --busy          # beside a process on one core

1. Starts ``decaf serve`` as its own process on a free port and waits for ``/readyz``.
2. Sustained run: LABEL_DETECTION on 640×480 JPEGs at ``--concurrency`` for ``--seconds`` (and at
   most ``--max-requests``): errors, requests/s, p50/p99 latency, the server's RSS before and
   after.
3. Baseline: the same requests' work done in this process by ``Annotator`` for as long,
   one call at a time (what a script would do): requests/s and the server/in-process ratio.
4. Overload run: a second server with ``--queue 2`` hit at concurrency 48: every answer must be
   200 or 429 (no 5xx, no time-outs) and the server must answer ``/healthz`` afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import busy  # before torch: it chooses torch's thread settings
import httpx
import skimage.data
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DECAF = [sys.executable, "-m", "decaf"]


def pictures() -> list[bytes]:
    out = []
    for arr in (
        skimage.data.astronaut(),
        skimage.data.chelsea(),
        skimage.data.coffee(),
        skimage.data.rocket(),
    ):
        buf = io.BytesIO()
        Image.fromarray(arr).convert("RGB").resize((640, 480)).save(buf, format="JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def body(jpeg: bytes) -> dict:
    return {
        "requests": [
            {
                "image": {"content": base64.b64encode(jpeg).decode()},
                "features": [{"type": "LABEL_DETECTION", "maxResults": 5}],
            }
        ]
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(*extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [*DECAF, "serve", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise SystemExit("decaf serve exited before it was ready")
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("decaf serve was not ready within 180 s")


async def load(
    url: str, bodies: list[dict], concurrency: int, seconds: float, max_requests: int
) -> dict:
    codes: dict[str, int] = {}
    latencies: list[float] = []
    sent = 0
    stop = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, k: int) -> None:
        nonlocal sent
        i = k
        while time.perf_counter() < stop and sent < max_requests:
            sent += 1
            t = time.perf_counter()
            try:
                r = await client.post(url + "/v1/images:annotate", json=bodies[i % len(bodies)])
                code = str(r.status_code)
                if r.status_code == 200 and "error" in r.json()["responses"][0]:
                    code = "200-with-error"
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            latencies.append(time.perf_counter() - t)
            codes[code] = codes.get(code, 0) + 1
            i += concurrency

    start = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(worker(client, k) for k in range(concurrency)))
    wall = time.perf_counter() - start
    ok = sorted(lat for lat in latencies)
    return {
        "requests": len(latencies),
        "codes": codes,
        "seconds": round(wall, 1),
        "requests_per_second": round(codes.get("200", 0) / wall, 2),
        "p50_ms": round(statistics.median(ok) * 1000, 1) if ok else None,
        "p99_ms": round(ok[min(len(ok) - 1, int(0.99 * len(ok)))] * 1000, 1) if ok else None,
    }


def in_process(jpegs: list[bytes], seconds: float) -> dict:
    from decaf.annotate import Annotator

    ann = Annotator()
    ann(jpegs[0], ["labels"])
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ann(jpegs[n % len(jpegs)], ["labels"], max_results=5)
        n += 1
    wall = time.perf_counter() - start
    return {"requests": n, "requests_per_second": round(n / wall, 2)}


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-requests", type=int, default=20000)
    ap.add_argument("--busy", action="store_true", help="measure beside a process busy on one core")
    args = ap.parse_args()
    jpegs = pictures()
    bodies = [body(j) for j in jpegs]
    report: dict[str, object] = {"busy": args.busy, "concurrency": args.concurrency}
    with busy.busy_core(args.busy):
        proc, url = start_server()
        try:
            asyncio.run(load(url, bodies, args.concurrency, 3, 200))  # warm-up
            report["rss_mb_before"] = round(rss_mb(proc.pid), 1)
            report["sustained"] = asyncio.run(
                load(url, bodies, args.concurrency, args.seconds, args.max_requests)
            )
            report["rss_mb_after"] = round(rss_mb(proc.pid), 1)
        finally:
            stop(proc)
        report["in_process"] = in_process(jpegs, min(args.seconds, 30))
        served = report["sustained"]["requests_per_second"]  # type: ignore[index]
        report["ratio_server_vs_in_process"] = round(
            served / report["in_process"]["requests_per_second"], 3
        )  # type: ignore[index]
        proc, url = start_server("--queue", "2")
        try:
            report["overload"] = asyncio.run(load(url, bodies, 48, min(args.seconds, 15), 5000))
            report["overload"]["healthz_after"] = httpx.get(url + "/healthz").status_code  # type: ignore[index]
        finally:
            stop(proc)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
