"""Training feed-forward style networks: fast (Johnson), CIN, StyleBank and AdaIN decoders.

Training goes through the shared engine (snapshots, resume, Ctrl-C, progress, metrics.csv)
with the perceptual losses of ``decaf.stylize.losses`` on a frozen zoo network
(EfficientNet-Lite0 by default): Gram style loss and feature content loss, both relative so that
weights carry over between layers. AdaIN trains its decoder with Huang & Belongie's losses
(content: the decoded picture re-encoded against the AdaIN target; style: channel mean and
standard deviation at every encoder stage).

Content pictures come from a folder or, offline, from the photos bundled with scikit-image and
scikit-learn, with heavy random crops, scales and flips (each sample's randomness is keyed by
the engine, so runs are repeatable and resumable).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import Dataset

from decaf.core import checks
from decaf.core.bundle import check_bundle_dest, plain, save_bundle
from decaf.core.devices import check_device_name
from decaf.core.errors import OptionError
from decaf.core.images import find_pictures, load_image
from decaf.core.tensors import picture_tensor, to_tensor
from decaf.stylize.losses import (
    RandomFilters,
    batched_gram,
    batched_relative_error,
    octave,
    total_variation,
)
from decaf.stylize.model import (
    ARBITRARY,
    METHODS,
    TASK,
    WCT_LEVELS,
    build_net,
    load_style_net,
)
from decaf.stylize.nets import PADS, AdaINNet, StyleBankNet, channel_stats, check_dilations
from decaf.stylize.variety import random_crop, style_crop, style_pool
from decaf.zoo.encoder import Encoder

if TYPE_CHECKING:
    from decaf.train.loop import Counter

#: colour photos that ship inside scikit-image / scikit-learn (no download)
OFFLINE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry", "retina", "motorcycle", "camera", "moon", "coins",
                  "china", "flower")  # fmt: skip


def offline_photos() -> dict[str, Image.Image]:
    """The offline content photos as RGB pictures, by name."""
    import skimage.data
    from sklearn.datasets import load_sample_image

    out = {}
    for name in OFFLINE_PHOTOS:
        if name in ("china", "flower"):
            arr = load_sample_image(f"{name}.jpg")
        elif name == "motorcycle":
            arr = skimage.data.stereo_motorcycle()[0]
        else:
            arr = getattr(skimage.data, name)()
        out[name] = load_image(arr, name=name)
    return out


class ContentCrops(Dataset):
    """``length`` random square crops (``size`` px) of the given pictures: ``smallest``–1 of
    the short side, random position and horizontal flip; item ``i`` also names a style index."""

    def __init__(self, pictures: Sequence[Image.Image], size: int = 256, length: int = 10_000,
                 styles: int = 1, smallest: float = 0.25) -> None:  # fmt: skip
        if not pictures:
            raise OptionError("no content pictures to train on")
        self.pictures = [to_tensor(p) for p in pictures]
        self.size, self.length, self.styles, self.smallest = size, length, styles, smallest

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        pic = self.pictures[int(torch.randint(len(self.pictures), ()))]
        crop = random_crop(pic[None], self.size, smallest=self.smallest)[0]
        if float(torch.rand(())) < 0.5:
            crop = crop.flip(-1)
        return crop.clamp(0, 1), int(torch.randint(self.styles, ()))


def content_folder(root: str | os.PathLike) -> dict[str, Image.Image]:
    """Every readable picture under ``root`` (recursively), by its path under ``root`` without
    the suffix (the name a teacher's result is found by)."""
    root = Path(root)
    if not root.is_dir():
        raise OptionError(f"{root}: not a folder of content pictures")
    paths = find_pictures(root)
    if not paths:
        raise OptionError(f"{root}: no pictures found")
    return {p.relative_to(root).with_suffix("").as_posix(): load_image(p) for p in paths}


@dataclass(frozen=True)
class Teacher:
    """Another method's result for one content picture in one style (Gatys's, say, which lays
    the larger motifs that a small network does not learn from Gram losses alone): the network
    is also scored by its output's features against the result's at ``teacher_layers``."""

    content: Image.Image
    style: int  #: index into the styles being trained
    result: Image.Image


class TeacherCrops(Dataset):
    """Aligned square crops of the teachers' content pictures and results, ``size`` px at the
    results' own scale (strokes keep their size in pixels), random position and horizontal
    flip. Item ``i`` is (crop, style index, the result's crop)."""

    def __init__(self, teachers: Sequence[Teacher], size: int, length: int) -> None:
        if not teachers:
            raise OptionError("no teacher pictures to learn from")
        # kept as 8-bit (52 pairs at 512 px: 82 MB, not 330 MB as float)
        self.pairs = [(torch.stack([_bytes(t.content.resize(t.result.size, Image.LANCZOS)),
                                    _bytes(t.result)]), t.style) for t in teachers]  # fmt: skip
        self.size, self.length = size, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, torch.Tensor]:
        both, style = self.pairs[int(torch.randint(len(self.pairs), ()))]
        h, w = both.shape[-2:]
        side = min(self.size, h, w)
        y, x = int(torch.randint(h - side + 1, ())), int(torch.randint(w - side + 1, ()))
        crop = both[..., y : y + side, x : x + side].float().div_(255)
        if side != self.size:
            crop = F.interpolate(crop, size=(self.size, self.size), mode="bilinear",
                                 antialias=True, align_corners=False)  # fmt: skip
        if float(torch.rand(())) < 0.5:
            crop = crop.flip(-1)
        crop = crop.clamp(0, 1)
        return crop[0], style, crop[1]


def _bytes(img: Image.Image) -> torch.Tensor:
    """(3, H, W) uint8 of a picture (RGB)."""
    return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).contiguous()


class WithTeachers(Dataset):
    """Each item a teacher's aligned crop with probability ``share``, else a plain content
    crop (its result ``None``): the teachers guide, the varied crops keep the network general."""

    def __init__(self, plain: ContentCrops, taught: TeacherCrops, share: float) -> None:
        self.plain, self.taught, self.share = plain, taught, share

    def __len__(self) -> int:
        return len(self.plain)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        if float(torch.rand(())) < self.share:
            return self.taught[i]
        return (*self.plain[i], None)


def find_teachers(root: str | os.PathLike, styles: Sequence[str],
                  content: dict[str, Image.Image]) -> list[Teacher]:  # fmt: skip
    """The results under ``root``: ``root/STYLE/NAME.png`` (any picture type) is the result of
    the content picture ``NAME`` in the style ``STYLE``. A result whose style or content picture
    is not being trained on is an error (a typo would otherwise silently teach nothing)."""
    root = Path(root)
    if not root.is_dir():
        raise OptionError(f"{root}: not a folder of teacher results (STYLE/NAME.png)")
    out = []
    for path in find_pictures(root):
        style, _, name = path.relative_to(root).with_suffix("").as_posix().partition("/")
        if style not in styles:
            raise OptionError(f"{path}: no style named {style!r} is being trained "
                              f"({', '.join(styles)})")  # fmt: skip
        if name not in content:
            raise OptionError(f"{path}: no content picture named {name!r}")
        out.append(Teacher(content[name], styles.index(style), load_image(path)))
    if not out:
        raise OptionError(f"{root}: no teacher results found (STYLE/NAME.png)")
    return out


TEACHER_MATCHES = ("features", "gram")


@dataclass(frozen=True)
class FastOptions:
    """Training settings for ``decaf train style``."""

    method: str = "fast"
    iters: int = 2000
    batch: int = 4
    size: int = 256  #: training crop side
    #: the smallest content crop, a share of the picture's short side (each crop is 1 down to
    #: this, then scaled to ``size``): near 1 the crops hold most of a photo, as a stylizer is
    #: fed whole photos, rather than a magnified corner of one
    crop_scale: float = 0.25
    style_size: int = 256  #: long side the style pictures are scaled to for their targets
    lr: float = 1e-3
    content_weight: float = 1.0
    style_weight: float = 30.0
    tv_weight: float = 10.0
    width: int = 16
    blocks: int = 5
    pad: str = "zeros"  #: fast/CIN: zeros | reflect (every convolution; no border bands)
    #: fast/CIN: one dilation per residual block (empty: all 1)
    dilations: tuple[int, ...] = ()
    #: fast/CIN/StyleBank and the WCT styled level: the style matched at this many octaves of
    #: the output (halved each time, against the style halved too): larger strokes, as in
    #: Gatys's pyramid
    style_octaves: int = 1
    #: fast/CIN/StyleBank: weight of a channel mean/std term beside each style layer's Gram
    #: error (relative, as AdaIN's style loss; Risser et al. 2017 pair such a term with the Gram)
    stats_weight: float = 0.0
    #: fast/CIN/StyleBank: weight of a Gram term on untrained random filters
    #: (stylize.losses.RandomFilters), a style signal of no network family
    random_weight: float = 0.0
    #: fast/CIN: weight of the teachers' term (their results' features against the output's)
    teacher_weight: float = 0.0
    teacher_layers: tuple[str, ...] = ("blocks.2", "blocks.3")
    #: features: the maps themselves (the teacher's layout); gram: their Gram matrices (the
    #: style the teacher gave that part of the picture, wherever its strokes lie)
    teacher_match: str = "features"
    teacher_share: float = 0.5  #: the share of training crops taken from the teachers
    backbone: str = "efficientnet_lite0"  #: loss network (and AdaIN encoder)
    style_layers: tuple[str, ...] = ("conv_stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3")
    #: fast/CIN/StyleBank: one weight per style layer (empty: all 1), normalised to their mean
    #: so that the style weight keeps its scale (Gatys's default leans on the shallow layers)
    style_layer_weights: tuple[float, ...] = ()
    content_layers: tuple[str, ...] = ("blocks.2",)
    adain_layer: str = "blocks.2"  #: AdaIN: the encoder ends here
    wct_levels: tuple[str, ...] = WCT_LEVELS  #: WCT: the stages with a decoder, deep first
    #: WCT: the level whose decoder learns to draw styles ('' = every decoder reconstructs)
    wct_styled: str = ""
    painters: int = 64  #: WCT styled level, varied AdaIN: procedural paintings in the pool
    #: AdaIN: style crops from the varied pool of :mod:`decaf.stylize.variety` (the styles
    #: plus ``painters`` procedural paintings, random palettes, turns and crop scales), as the
    #: styled WCT level always has, instead of plain crops of the given styles
    varied_styles: bool = False
    bank_period: int = 2  #: StyleBank: T style steps, then one auto-encoder step
    #: fast/CIN/StyleBank with a ``base`` of the same styles: train all its weights further
    #: (e.g. at a larger crop size) instead of extending it with new styles
    finetune: bool = False
    seed: int = 0
    display: int = 25
    snapshot_interval: int = 0
    styles_names: tuple[str, ...] = field(default_factory=tuple)
    device: str = "auto"  #: auto (the local GPU when there is one) | cpu | cuda | cuda:N

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Fail before any network loads (run on construction)."""
        checks.positive("lr", self.lr)
        for name in ("content_weight", "style_weight", "tv_weight", "stats_weight",
                     "random_weight", "teacher_weight"):  # fmt: skip
            checks.non_negative(name, getattr(self, name))
        for name in ("width", "blocks", "bank_period", "display"):
            checks.at_least(name, getattr(self, name), 1)
        checks.at_least("snapshot_interval", self.snapshot_interval, 0)
        check_device_name(self.device)
        if self.method not in METHODS:
            raise OptionError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.wct_styled and self.wct_styled not in self.wct_levels:
            raise OptionError(f"the styled level {self.wct_styled} is not one of the WCT levels "
                              f"{', '.join(self.wct_levels)}")  # fmt: skip
        checks.at_least("painters", self.painters, 0)
        if self.varied_styles and self.method != "adain":
            raise OptionError("varied_styles trains adain decoders (the styled WCT level "
                              f"always has the varied pool), not {self.method}")  # fmt: skip
        if self.finetune and self.method not in ("fast", "cin", "stylebank"):
            raise OptionError(f"finetune goes with fast, cin and stylebank, not {self.method}")
        checks.in_range("teacher_share", self.teacher_share, 0.01, 1.0)
        checks.in_range("crop_scale", self.crop_scale, 0.01, 1.0)
        checks.one_of("teacher_match", self.teacher_match, TEACHER_MATCHES)
        if not self.style_layers or not self.content_layers or not self.teacher_layers:
            raise OptionError("need at least one style layer, content layer and teacher layer")
        if self.style_octaves not in (1, 2, 3):
            raise OptionError(f"style_octaves must be 1, 2 or 3, got {self.style_octaves!r}")
        check_dilations(self.dilations, self.blocks)
        self._check_layer_weights()
        if self.pad not in PADS:
            raise OptionError(f"pad must be {' or '.join(PADS)}, got {self.pad!r}")
        if self.iters < 1 or self.batch < 1 or self.size < 32 or self.style_size < 32:
            raise OptionError("need iters ≥ 1, batch ≥ 1 and sizes ≥ 32")

    def _check_layer_weights(self) -> None:
        w = self.style_layer_weights
        if w and self.method in ARBITRARY:  # their losses weigh every layer alike
            raise OptionError(f"style_layer_weights train fast, cin and stylebank networks, "
                              f"not {self.method}")  # fmt: skip
        finite = all(math.isfinite(x) and x >= 0 for x in w)
        if w and (len(w) != len(self.style_layers) or not finite or sum(w) <= 0):
            raise OptionError(f"style_layer_weights: one weight ≥ 0 per style layer "
                              f"({len(self.style_layers)}), not all 0; got {list(w)}")  # fmt: skip

    def layer_scales(self) -> dict[str, float]:
        """Each style layer's weight over their mean (all 1 by default)."""
        w = self.style_layer_weights or (1.0,) * len(self.style_layers)
        mean = sum(w) / len(w)
        return {n: x / mean for n, x in zip(self.style_layers, w, strict=True)}


class PerceptualLoss(nn.Module):
    """Gram style loss (targets per style and octave) + feature content loss + total
    variation, and with teachers (``teacher_weight``) the features of their results."""

    def __init__(self, opts: FastOptions, styles: Sequence[Image.Image],
                 pretrained: bool = True) -> None:  # fmt: skip
        super().__init__()
        layers = [*opts.style_layers, *opts.content_layers]
        if opts.teacher_weight > 0:
            layers += opts.teacher_layers
        self.ext = Encoder(opts.backbone, list(dict.fromkeys(layers)), pretrained=pretrained)
        self.rf = RandomFilters(seed=opts.seed) if opts.random_weight > 0 else None
        self.opts = opts
        self.scales = opts.layer_scales()  #: each style layer's weight, once, not per step
        self.targets: list[dict[str, torch.Tensor]] = []  # per octave: {layer: (N, C, C)}
        #: per octave: {layer: (N, 2, C)}, the channel means and standard deviations
        self.stats: list[dict[str, torch.Tensor]] = []
        pictures = [picture_tensor(s, opts.style_size) for s in styles]
        with torch.no_grad():
            for k in range(opts.style_octaves):
                feats = [self._features(octave(p, k)) for p in pictures]
                self.targets.append({n: torch.cat([batched_gram(f[n]) for f in feats])
                                     for n in self._gram_layers()})  # fmt: skip
                self.stats.append({n: torch.cat([_moments(f[n]) for f in feats])
                                   for n in opts.style_layers})  # fmt: skip

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.ext(x)
        return feats if self.rf is None else {**feats, **self.rf(x)}

    def _gram_layers(self) -> list[str]:
        return [*self.opts.style_layers, *(self.rf.names if self.rf is not None else [])]

    def _style(self, feats: dict[str, torch.Tensor], style_w: torch.Tensor, k: int
               ) -> torch.Tensor:  # fmt: skip
        targets, stats, sw = self.targets[k], self.stats[k], self.opts.stats_weight
        total = torch.zeros(())
        for n in self._gram_layers():
            g = torch.einsum("bn,nij->bij", style_w, targets[n])
            scale = self.scales.get(n, self.opts.random_weight)  # else one of the random filters
            total = total + scale * batched_relative_error(batched_gram(feats[n]), g)
            if sw > 0 and n in stats:  # the blend's moments, relative to the target's
                m = torch.einsum("bn,nkc->bkc", style_w, stats[n])
                total = total + scale * sw * batched_relative_error(_moments(feats[n]), m)
        return total / len(self.opts.style_layers)

    def forward(self, out: torch.Tensor, content: torch.Tensor, style_w: torch.Tensor,
                taught: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> dict[str, torch.Tensor]:  # fmt: skip
        """``style_w``: (B, N) blend weights of the styles each output should have;
        ``taught``: the teachers' results (K, 3, H, W) and which K of the B outputs they are
        for (a bool mask)."""
        if self.ext.mean.device != out.device:  # follow the Trainer's device (a GPU, say)
            self.to(out.device)
            self.targets = [{n: t.to(out.device) for n, t in tk.items()} for tk in self.targets]
            self.stats = [{n: t.to(out.device) for n, t in tk.items()} for tk in self.stats]
        fo = self._features(out)
        with torch.no_grad():
            fc = self.ext(content)
        style = self._style(fo, style_w, 0)
        for k in range(1, self.opts.style_octaves):  # summed over octaves, as Gatys's is
            style = style + self._style(self._features(octave(out, k)), style_w, k)
        cont = sum(batched_relative_error(fo[n], fc[n]) for n in self.opts.content_layers) / len(
            self.opts.content_layers
        )
        tv = total_variation(out)
        o = self.opts
        loss = o.style_weight * style + o.content_weight * cont + o.tv_weight * tv
        terms = {"style": style.detach(), "content": cont.detach(), "tv": tv.detach()}
        if taught is not None and o.teacher_weight > 0:
            teach = self._teacher(fo, *taught)
            loss = loss + o.teacher_weight * teach
            terms["teacher"] = teach.detach()
        return {"loss": loss, **terms}

    def _teacher(self, fo: dict[str, torch.Tensor], results: torch.Tensor, mask: torch.Tensor
                 ) -> torch.Tensor:  # fmt: skip
        """The masked outputs' features (or their Grams) against their teachers' results'
        (0 for none)."""
        if not bool(mask.any()):
            return torch.zeros(())
        with torch.no_grad():
            ft = self.ext(results)
        layers = self.opts.teacher_layers
        gram = batched_gram if self.opts.teacher_match == "gram" else (lambda f: f)
        return sum(batched_relative_error(gram(fo[n][mask]), gram(ft[n])) for n in layers
                   ) / len(layers)  # fmt: skip


class AdaINLoss(nn.Module):
    """Huang & Belongie: content = relative error of enc(out) against the AdaIN target t;
    style = mean/std mismatch at every encoder stage (relative to the style's)."""

    def __init__(self, opts: FastOptions) -> None:
        super().__init__()
        self.opts = opts

    def forward(self, net: AdaINNet, content: torch.Tensor, style: torch.Tensor
                ) -> dict[str, torch.Tensor]:  # fmt: skip
        enc: Encoder = net.encoder  # type: ignore[assignment]
        with torch.no_grad():
            fs = enc.stages(style)
            fc = net.encode(content)
            mean, std = channel_stats(fs[-1])
            from decaf.stylize.nets import adain

            t = adain(fc, mean, std)
        out = net.decode(t)
        fo = enc.stages(out)
        cont = batched_relative_error(fo[-1], t)
        sty = torch.stack([stats_error(a, b) for a, b in zip(fo, fs, strict=True)]).mean()
        loss = self.opts.content_weight * cont + self.opts.style_weight * sty
        return {"loss": loss, "style": sty.detach(), "content": cont.detach()}


def _moments(f: torch.Tensor) -> torch.Tensor:
    """(B, 2, C): each picture's channel means and standard deviations."""
    mean, std = channel_stats(f)
    return torch.stack([mean.flatten(1), std.flatten(1)], dim=1)


def stats_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per picture, the channel means' and standard deviations' squared error relative to
    ``b``'s: Huang & Belongie's style term at one layer, (B,)."""
    ma, mb = _moments(a), _moments(b)
    return (ma - mb).pow(2).sum((1, 2)) / mb.pow(2).sum((1, 2))


class StyledLevelLoss(nn.Module):
    """The losses of a WCT decoder that learns to draw styles (``wct_styled``): it decodes the
    content's features whitened and coloured with a random style crop's (from the varied pool
    of :mod:`decaf.stylize.variety`), and is scored on the loss network by the result's
    features at the level against that target (content), its Gram matrices and channel
    statistics at ``style_layers`` against the crop's (style), and total variation. A decoder
    that only reconstructs draws no brush work; one trained on a few styles draws those."""

    def __init__(self, opts: FastOptions, styles: Sequence[Image.Image],
                 pretrained: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.opts = opts
        layers = list(dict.fromkeys([*opts.style_layers, opts.wct_styled]))
        self.ext = Encoder(opts.backbone, layers, pretrained=pretrained)
        self.pool = style_pool(styles, opts.painters, opts.style_size, opts.seed)

    def _style(self, fo: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
               ) -> torch.Tensor:  # fmt: skip
        layers = self.opts.style_layers
        total = sum(batched_relative_error(batched_gram(fo[n]), batched_gram(target[n]))
                    + stats_error(fo[n], target[n]).mean() for n in layers)  # fmt: skip
        return total / len(layers)

    def forward(self, net: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        level, o = self.opts.wct_styled, self.opts
        if self.ext.mean.device != x.device:  # follow the Trainer's device (a GPU, say)
            self.to(x.device)
        s = torch.cat([style_crop(self.pool, x.shape[-1]) for _ in range(len(x))]).to(x)
        with torch.no_grad():
            fc, fs = net.encode(level, x), net.encode(level, s)
            pairs = zip(fc, fs, strict=True)
            t = torch.cat([_whitened_coloured(c[None], z[None]) for c, z in pairs])
            target = self.ext(s)
        y = net.decode(level, t)
        fo = self.ext(y)
        content = batched_relative_error(fo[level], t)
        style = self._style(fo, target)
        for k in range(1, o.style_octaves):  # the result and the crop halved: larger strokes
            with torch.no_grad():
                target_k = self.ext(octave(s, k))
            style = style + self._style(self.ext(octave(y, k)), target_k)
        tv = total_variation(y)
        loss = o.content_weight * content + o.style_weight * style + o.tv_weight * tv
        return {"loss": loss, f"{level}.style": style.detach(),
                f"{level}.content": content.detach()}  # fmt: skip


def _whitened_coloured(fc: torch.Tensor, fs: torch.Tensor) -> torch.Tensor:
    """One picture's content features whitened and coloured with one style's (1, C, H, W)."""
    from decaf.stylize import wct

    return wct.transform(wct.moments(fc), [wct.moments(fs)], [1.0])(fc)


def train_style(
    styles: Sequence[Image.Image],
    out: str | os.PathLike,
    options: FastOptions = FastOptions(),  # noqa: B008 (frozen dataclass)
    content: Sequence[Image.Image] | None = None,
    base: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = False,
    pretrained: bool = True,
    teachers: Sequence[Teacher] = (),
) -> dict[str, Any]:
    """Train a style network on ``styles`` and write a bundle to ``out``.

    ``teachers`` (fast and CIN, with ``teacher_weight`` > 0): other methods' results for
    content pictures in these styles, which a share of the training crops also learn from.

    ``pretrained=False`` gives the loss network (and AdaIN's encoder) random weights: for tests
    and for backbones whose ImageNet weights are not on this machine.

    ``base``: an existing CIN or StyleBank bundle to extend — its network is frozen and only the
    new styles' CIN rows / banks are trained, so the old styles' outputs stay bit-identical.
    With ``options.finetune``, ``base`` holds the same ``styles`` and all of it trains on.
    """
    from decaf.train.loop import Counter, Trainer, set_seed

    opts = options
    opts.validate()
    out = check_bundle_dest(out)
    if not styles:
        raise OptionError("give at least one style picture")
    if opts.method == "fast" and len(styles) != 1:
        raise OptionError("--method fast learns one style; use cin or stylebank for several")
    _check_teachers(opts, teachers, len(styles))
    if opts.finetune and base is None:
        raise OptionError("finetune needs a base bundle to start from (--base)")
    set_seed(opts.seed)
    net, names, config, old = _network(opts, len(styles), base, pretrained)
    counter = Counter()
    data = _training_data(opts, styles, content, teachers)
    step = _training_step(opts, styles, pretrained, old, counter)
    solver, loop = _engine_config(opts, Path(run_dir) if run_dir else out.with_suffix(".run"),
                                  progress)  # fmt: skip
    trainer = Trainer(net, data, step, solver, loop, collate_fn=_collate,
                      stateful={"step_counter": counter})  # fmt: skip
    result = trainer.fit(resume=resume)
    summary = {"iterations": result.iteration, "seconds": round(result.seconds, 1),
               "train": result.train, "interrupted": result.interrupted,
               "snapshot": str(result.snapshot) if result.snapshot else None,
               "styles": names}  # fmt: skip
    if not result.interrupted and trainer.world.is_main:
        provenance = {"content": "folder" if content else "offline photos",
                      "base": str(base) if base else None, "teachers": len(teachers)}  # fmt: skip
        _save_trained(net, opts, names, {**config, "styles": len(names)},
                      {"train": result.train}, provenance, out)  # fmt: skip
        summary["bundle"] = str(out)
    return summary


def _engine_config(opts: FastOptions, run_dir: Path, progress: bool) -> tuple[Any, Any]:
    """The engine's solver (Adam at a fixed rate) and loop settings for these options."""
    from decaf.train.loop import LoopConfig
    from decaf.train.schedules import LRPolicy
    from decaf.train.solver import SolverConfig

    solver = SolverConfig(type="adam", lr=LRPolicy("fixed", base_lr=opts.lr, max_iter=opts.iters),
                          weight_decay=0.0)  # fmt: skip
    loop = LoopConfig(max_iter=opts.iters, batch_size=opts.batch, display=opts.display,
                      snapshot_interval=opts.snapshot_interval, out_dir=run_dir,
                      seed=opts.seed, progress=progress,
                      device=None if opts.device == "auto" else opts.device)  # fmt: skip
    return solver, loop


def _training_data(opts: FastOptions, styles: Sequence[Image.Image],
                   content: Sequence[Image.Image] | None,
                   teachers: Sequence[Teacher]) -> Dataset:  # fmt: skip
    """The crops to train on: the content pictures (the offline photos by default; for WCT
    reconstruction the styles too), mixed with the teachers' aligned crops when there are any."""
    pictures = list(content) if content else list(offline_photos().values())
    if opts.method == "wct" and not opts.wct_styled:  # reconstruction: styles are pictures
        pictures += list(styles)
    length = max(opts.iters * opts.batch, 1)
    data: Dataset = ContentCrops(pictures, opts.size, length, len(styles), opts.crop_scale)
    if teachers:
        data = WithTeachers(data, TeacherCrops(teachers, opts.size, length), opts.teacher_share)
    return data


def _training_step(opts: FastOptions, styles: Sequence[Image.Image], pretrained: bool,
                   old: int, counter: Counter):  # fmt: skip
    """The method's step function, with its losses built (and their style targets)."""
    if opts.method == "wct":
        styled = StyledLevelLoss(opts, styles, pretrained) if opts.wct_styled else None
        return _wct_step(opts, styled)
    if opts.method == "adain":
        if opts.varied_styles:
            pool = style_pool(styles, opts.painters, opts.style_size, opts.seed)
            return _adain_step(AdaINLoss(opts), pool, opts.size, varied=True)
        style_tensors = [picture_tensor(s, opts.style_size) for s in styles]
        return _adain_step(AdaINLoss(opts), style_tensors, opts.size)
    loss_fn = PerceptualLoss(opts, styles, pretrained)
    return _feedforward_step(loss_fn, opts, old, len(styles), counter)


def _save_trained(net: nn.Module, opts: FastOptions, names: list[str], config: dict[str, Any],
                  metrics: dict[str, Any], provenance: dict[str, Any],
                  out: Path) -> None:  # fmt: skip
    """The trained network as a bundle. AdaIN's and WCT's encoders are the zoo's frozen
    network, so their bundles keep only the decoders."""
    frozen = "encoder" if opts.method in ARBITRARY else None
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()
             if frozen is None or not k.startswith(frozen)}  # fmt: skip
    save_bundle({"task": TASK, "arch": opts.method, "classes": names, "state_dict": state,
                 "config": plain({**asdict(opts), **config}), "metrics": metrics,
                 "provenance": provenance}, out)  # fmt: skip


def _check_teachers(opts: FastOptions, teachers: Sequence[Teacher], n_styles: int) -> None:
    """Teachers and their weight come together, for the fast and CIN methods only."""
    if bool(teachers) != (opts.teacher_weight > 0):
        raise OptionError("teacher results and a teacher weight > 0 go together "
                          "(--teacher DIR --teacher-weight W)")  # fmt: skip
    if teachers and opts.method not in ("fast", "cin"):
        raise OptionError(f"teachers train fast and cin networks, not {opts.method}")
    for t in teachers:
        if not 0 <= t.style < n_styles:
            raise OptionError(f"a teacher's style index {t.style} is not one of the "
                              f"{n_styles} styles")  # fmt: skip


def _network(opts: FastOptions, n_styles: int, base: str | os.PathLike | None,
             pretrained: bool) -> tuple[nn.Module, list[str], dict[str, Any], int]:  # fmt: skip
    """(network, style names, network config, styles it had before): a new network, ``base``
    frozen with ``n_styles`` new styles whose parameters alone will train, or (``finetune``)
    ``base`` whole. A base gives the network's shape; the settings saved are this run's."""
    config = {k: list(v) if isinstance(v, tuple) else v
              for k, v in ((k, getattr(opts, k)) for k in NET_CONFIG_KEYS)}  # fmt: skip
    names = list(opts.styles_names) or [f"style{k}" for k in range(n_styles)]
    if base is None:
        return build_net(opts.method, n_styles, config, pretrained), names, config, 0
    if opts.method == "wct":
        return _wct_from(base, opts, config, pretrained), names, config, 0
    if opts.method not in ("cin", "stylebank") and not opts.finetune:
        raise OptionError("only cin, stylebank and wct networks start from a --base")
    net, info = load_style_net(base)
    if info["method"] != opts.method:
        raise OptionError(f"{base}: a {info['method']} bundle, not {opts.method}")
    shape = {k: v for k, v in info["config"].items() if k in NET_CONFIG_KEYS}
    if opts.finetune:
        if len(info["styles"]) != n_styles:
            raise OptionError(f"{base} has {len(info['styles'])} styles; fine-tuning needs the "
                              f"same styles again, got {n_styles}")  # fmt: skip
        return net.requires_grad_(True), list(info["styles"]), shape, 0
    old = net.styles
    for p in net.parameters():
        p.requires_grad_(False)
    for _ in range(n_styles):
        net.add_style()
    for p in _new_style_params(net, old):
        p.requires_grad_(True)
    return net, list(info["styles"]) + names, shape, old


#: the config keys that shape a style network (the rest of a bundle's config is how it trained)
NET_CONFIG_KEYS = ("width", "blocks", "pad", "dilations", "backbone", "adain_layer", "wct_levels")


def _wct_from(base: str | os.PathLike, opts: FastOptions, config: dict[str, Any],
              pretrained: bool) -> nn.Module:  # fmt: skip
    """A WCT network whose decoders start from ``base`` (fine-tuning): a WCT bundle's decoders
    at the same levels, or an AdaIN bundle's decoder at its encoder's last layer; levels that
    ``base`` lacks start fresh."""
    net = build_net("wct", 1, config, pretrained)
    old, info = load_style_net(base, pretrained=False)
    state = {k: v for k, v in old.state_dict().items() if k.startswith("decoder")}
    if info["method"] == "adain":
        at = "decoders." + info["config"].get("adain_layer", "blocks.2").replace(".", "_")
        state = {at + k.removeprefix("decoder"): v for k, v in state.items()}
    elif info["method"] != "wct":
        raise OptionError(f"{base}: not a wct or adain bundle (its method is {info['method']})")
    mine = net.state_dict()
    state = {k: v for k, v in state.items() if k in mine and mine[k].shape == v.shape}
    if not state:
        raise OptionError(f"{base}: no decoder at the levels {', '.join(opts.wct_levels)} "
                          f"with width {opts.width}")  # fmt: skip
    net.load_state_dict(state, strict=False)
    return net


def _new_style_params(net: nn.Module, old: int) -> list[nn.Parameter]:
    """What extending a network with styles ``old..`` trains: new banks, or the CIN tensors."""
    if isinstance(net, StyleBankNet):
        return [p for bank in net.banks[old:] for p in bank.parameters()]
    from decaf.stylize.nets import cin_rows

    return cin_rows(net)  # whole tensors; _feedforward_step masks the old rows' gradients


def _collate(batch: list[tuple]) -> tuple[torch.Tensor, ...]:
    """(crops, style indices) and, for :class:`WithTeachers` items, the teachers' result
    crops (K, 3, H, W) and the bool mask of the K items that have one."""
    imgs, idx, *rest = zip(*batch, strict=True)
    out = (torch.stack(imgs), torch.tensor(idx))
    if not rest:
        return out
    mask = torch.tensor([r is not None for r in rest[0]])
    results = [r for r in rest[0] if r is not None]
    return *out, torch.stack(results) if results else imgs[0].new_zeros(0, 3, 1, 1), mask


def _feedforward_step(loss_fn: PerceptualLoss, opts: FastOptions, old: int, new: int,
                      counter: Counter):  # fmt: skip
    """Step for fast / CIN / StyleBank: each picture gets one of the ``new`` styles (indices
    ``old..old+new-1`` of the network). StyleBank alternates ``bank_period`` style steps with
    one auto-encoder step; with ``old > 0`` it trains only new banks. ``counter`` is handed to
    the Trainer as state, so a resumed run keeps the alternation where it was."""

    def step(net: nn.Module, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, idx, *taught = batch
        w = F.one_hot(idx, new).float()
        if isinstance(net, StyleBankNet):
            counter.n += 1
            if old == 0 and counter.n % (opts.bank_period + 1) == 0:
                rec = net(x, None)
                loss = F.mse_loss(rec, x)
                return {"loss": loss, "reconstruction": loss.detach()}
            k = int(idx[0])
            y = net(x, old + k)
            w = F.one_hot(idx.new_full(idx.shape, k), new).float()
            return loss_fn(y, x, w)
        full = F.pad(w, (old, 0))  # old styles get weight 0
        y = net(x, full)
        out = loss_fn(y, x, w, tuple(taught) if taught else None)
        if old:
            _mask_old_rows(net, old)
        return out

    return step


def _mask_old_rows(net: nn.Module, old: int) -> None:
    """Keep extended CIN tensors' old rows fixed: zero their gradient as soon as it exists."""
    from decaf.stylize.nets import cin_rows

    for p in cin_rows(net):
        if not getattr(p, "_decaf_masked", False):
            p.register_hook(lambda g, k=old: torch.cat([torch.zeros_like(g[:k]), g[k:]]))
            p._decaf_masked = True  # type: ignore[attr-defined]


def _adain_step(loss_fn: AdaINLoss, styles: list[torch.Tensor], size: int,
                varied: bool = False):  # fmt: skip
    """One style crop per content crop: of the sample's style, or (``varied``) any crop of
    the varied pool ``styles``, repainted, turned or mirrored at random."""

    def step(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, idx = batch
        if varied:
            crops = [style_crop(styles, size) for _ in idx.tolist()]
        else:
            crops = [random_crop(styles[k % len(styles)], size) for k in idx.tolist()]
        return loss_fn(net, x, torch.cat(crops).to(x.device))

    return step


def _wct_step(opts: FastOptions, styled: StyledLevelLoss | None = None):
    """Reconstruction at every level but the styled one (which ``styled`` scores): pixels
    (L1) and, weighted by ``content_weight``, the shallowest level's features of the result
    (relative error: sharpness at little cost; deep feature losses cost 4× the rest of the
    step), on crops whose colours are jittered hard, so the decoders meet colours photos
    rarely have."""

    def step(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = _recolour(batch[0])
        shallow = net.levels[-1]
        with torch.no_grad():
            feats = net.encode_all(x)
        out: dict[str, torch.Tensor] = {}
        total = x.new_zeros(())
        for level in net.levels:
            if styled is not None and level == opts.wct_styled:
                terms = styled(net, x)
                total = total + terms.pop("loss")
                out.update(terms)
                continue
            y = net.decode(level, feats[level])
            pixels = F.l1_loss(y, x)
            total = total + pixels
            out[f"{level}.pixels"] = pixels.detach()
            if opts.content_weight:
                sharp = batched_relative_error(net.encode(shallow, y), feats[shallow])
                total = total + opts.content_weight * sharp
                out[f"{level}.features"] = sharp.detach()
        return {"loss": total, **out}

    return step


def _recolour(x: torch.Tensor) -> torch.Tensor:
    """Per picture: a random mix of its channels near the identity (hue and saturation
    shifts), a random gamma and contrast, half of them; then clamped to [0, 1]."""
    b = x.shape[0]
    mix = torch.eye(3) + 0.5 * torch.randn(b, 3, 3)
    mix = mix / mix.sum(-1, keepdim=True).clamp_min(0.3)
    gamma = torch.exp(0.5 * torch.randn(b, 1, 1, 1))
    keep = (torch.rand(b, 1, 1, 1) < 0.5).to(x)
    y = torch.einsum("bij,bjhw->bihw", mix.to(x), x).clamp(0, 1) ** gamma.to(x)
    return (keep * x + (1 - keep) * y).clamp(0, 1)


def train_style_files(styles: Sequence[str], out: str | os.PathLike, options: FastOptions,
                      content: str | os.PathLike | None = None,
                      teacher: str | os.PathLike | None = None,
                      **kwargs: Any) -> dict[str, Any]:  # fmt: skip
    """``decaf train style``: style files or built-in names, an optional folder of content
    pictures and one of teacher results (:func:`find_teachers`: ``STYLE/NAME.png``, NAME a
    content file's path in the folder or an offline photo's name), the rest as
    :func:`train_style`. The style names become the bundle's."""
    from dataclasses import replace

    from decaf.stylize import resolve_style

    check_bundle_dest(out)
    if not styles:
        raise OptionError("give at least one style picture or built-in style name")
    pictures = [resolve_style(s, size=max(512, options.style_size)) for s in styles]
    options = replace(options, styles_names=tuple(Path(s).stem for s in styles))
    photos = content_folder(content) if content is not None else None
    found = () if teacher is None else find_teachers(teacher, options.styles_names,
                                                      photos or offline_photos())  # fmt: skip
    return train_style(
        pictures, out, options, list(photos.values()) if photos else None, teachers=found, **kwargs
    )
