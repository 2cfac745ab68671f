"""Peak memory of every command that takes a picture, on a 75-megapixel photo (10000 × 7500).

Each command runs in its own process under ``/usr/bin/time -v``; the table gives its exit
code, peak resident memory and wall time. A 90-megapixel picture is refused from its header
(the pixel budget), so this is the largest picture decaf reads.

    python benchmarks/memory_75mp.py            # all commands
    python benchmarks/memory_75mp.py --only fast,adain
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

DECAF = [sys.executable, "-m", "decaf"]


def _photo(dest: Path) -> Path:
    """skimage's astronaut tiled and resized to 10000 × 7500, saved as a JPEG."""
    tile = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((1000, 750)))
    big = np.tile(tile, (10, 10, 1))
    Image.fromarray(big).save(dest, quality=90)
    return dest


def _detector(d: Path) -> Path:
    """A detector bundle to run (3 updates on shapes: its speed and memory are what counts)."""
    subprocess.run([*DECAF, "data", "synth", "shapes", "-o", str(d / "shapes"), "--count", "4",
                    "--val", "1"], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*DECAF, "train", "detector", str(d / "shapes"), "--iters", "2", "--batch",
                    "1", "--scratch", "-o", str(d / "det.pt")], check=True,
                   capture_output=True)  # fmt: skip
    return d / "det.pt"


def commands(photo: Path, d: Path) -> dict[str, list[str]]:
    p = str(photo)
    return {
        "classify": ["classify", p],
        "annotate labels": ["annotate", p, "--features", "labels"],
        "annotate all": ["annotate", p],
        "detect": ["detect", p, "-m", str(_detector(d)), "--draw", str(d / "det.jpg")],
        "gatys (512, 5 steps)": ["stylize", p, "--steps", "5", "-o", str(d / "g.jpg")],
        "fast (full size)": ["stylize", p, "--method", "fast", "-o", str(d / "f.jpg")],
        "adain (full size)": ["stylize", p, "--method", "adain", "-o", str(d / "a.jpg")],
    }


def measure(args: list[str]) -> tuple[int, float, float, str]:
    run = subprocess.run(["/usr/bin/time", "-v", *DECAF, *args], capture_output=True, text=True)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", run.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", run.stderr)
    parts = [float(x) for x in wall.group(1).split(":")]
    seconds = sum(x * 60**i for i, x in enumerate(reversed(parts)))
    errors = [x for x in run.stderr.splitlines() if x.startswith("error:")]
    return run.returncode, rss / 1024**2, seconds, errors[0] if errors else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated names (a word of each)")
    only = [w for w in ap.parse_args().only.split(",") if w]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        photo = _photo(d / "big.jpg")
        print(f"{photo.name}: 10000 × 7500, {photo.stat().st_size / 1e6:.1f} MB JPEG")
        print("| command | exit | peak memory (GB) | seconds | error |\n|---|---|---|---|---|")
        for name, args in commands(photo, d).items():
            if only and not any(w in name for w in only):
                continue
            code, gb, seconds, error = measure(args)
            print(f"| `{name}` | {code} | {gb:.2f} | {seconds:.0f} | {error} |", flush=True)


if __name__ == "__main__":
    main()
