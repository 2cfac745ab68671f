"""The feed-forward training losses: style matched at several octaves of the output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from decaf.core.errors import OptionError
from decaf.core.tensors import picture_tensor
from decaf.stylize.losses import batched_gram, batched_relative_error, octave
from decaf.stylize.train import ContentCrops, FastOptions, PerceptualLoss


def _blocks(seed: int, side: int = 96) -> Image.Image:
    """Coloured blocks of 8 px: a style with strokes of a definite size."""
    rng = np.random.default_rng(seed)
    small = (rng.random((side // 8, side // 8, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize((side, side), Image.NEAREST)


def _loss(octaves: int) -> PerceptualLoss:
    torch.manual_seed(0)
    opts = FastOptions(method="cin", style_size=96, style_octaves=octaves, device="cpu")
    return PerceptualLoss(opts, [_blocks(0)], pretrained=False).eval()


def test_the_second_octave_adds_the_gram_error_of_the_halved_pictures() -> None:
    one, two = _loss(1), _loss(2)
    style = picture_tensor(_blocks(0), 96)
    other = picture_tensor(_blocks(1), 96)
    w = torch.ones(1, 1)
    with torch.no_grad():
        # the style picture itself is at distance 0 at every octave
        assert float(two(style, style, w)["style"]) < 1e-6
        s1 = float(one(other, other, w)["style"])
        s2 = float(two(other, other, w)["style"])
        half = two.ext(octave(other, 1))
        target = two.ext(octave(style, 1))
        layers = two.opts.style_layers
        expected = sum(
            float(batched_relative_error(batched_gram(half[n]), batched_gram(target[n])))
            for n in layers
        ) / len(layers)
    assert expected > 0.01
    assert s2 == pytest.approx(s1 + expected, rel=1e-4)


def test_the_style_layers_chosen_are_the_ones_matched() -> None:
    opts = FastOptions(method="cin", style_size=96, style_layers=("conv_stem", "blocks.4"))
    loss = PerceptualLoss(opts, [_blocks(0)], pretrained=False)
    assert set(loss.targets[0]) == {"conv_stem", "blocks.4"}
    with pytest.raises(OptionError, match="at least one style layer"):
        FastOptions(style_layers=())


def test_style_layer_weights_scale_each_layers_error_by_its_weight_over_their_mean() -> None:
    layers = ("conv_stem", "blocks.1", "blocks.3")
    torch.manual_seed(0)
    opts = FastOptions(method="cin", style_size=96, style_layers=layers,
                       style_layer_weights=(6.0, 3.0, 0.0))  # fmt: skip
    loss = PerceptualLoss(opts, [_blocks(0)], pretrained=False).eval()
    other, w = picture_tensor(_blocks(1), 96), torch.ones(1, 1)
    with torch.no_grad():
        got = float(loss(other, other, w)["style"])
        fo = loss.ext(other)
        err = {n: float(batched_relative_error(batched_gram(fo[n]), loss.targets[0][n]))
               for n in layers}  # fmt: skip
    assert min(err.values()) > 0.01
    # weights over their mean (3): 2, 1 and 0, then the mean over the 3 layers
    assert got == pytest.approx((2 * err["conv_stem"] + err["blocks.1"]) / 3, rel=1e-4)
    for bad in [(1.0, 2.0), (1.0, -1.0, 1.0), (0.0, 0.0, 0.0), (1.0, float("nan"), 1.0)]:
        with pytest.raises(OptionError, match="style_layer_weights"):
            FastOptions(style_layers=layers, style_layer_weights=bad)
    with pytest.raises(OptionError, match="style_layer_weights train fast, cin and stylebank"):
        FastOptions(method="wct", style_layers=layers, style_layer_weights=(1.0, 1.0, 1.0))


def test_the_stats_term_adds_the_relative_moment_error_of_the_blend() -> None:
    """``stats_weight`` adds, per style layer, the channel means' and standard deviations'
    error relative to the blended style's (zero for the style itself)."""
    from decaf.stylize.nets import channel_stats

    styles = [_blocks(0), _blocks(3)]
    loss = {}
    for sw in (0.0, 2.0):
        torch.manual_seed(0)
        opts = FastOptions(method="cin", style_size=96, stats_weight=sw)
        loss[sw] = PerceptualLoss(opts, styles, pretrained=False).eval()
    first, other = picture_tensor(styles[0], 96), picture_tensor(_blocks(1), 96)
    with torch.no_grad():
        assert float(loss[2.0](first, first, torch.tensor([[1.0, 0.0]]))["style"]) < 1e-6
        w = torch.tensor([[0.25, 0.75]])
        gap = float(loss[2.0](other, other, w)["style"] - loss[0.0](other, other, w)["style"])
        fo, fs = loss[2.0].ext(other), [loss[2.0].ext(picture_tensor(s, 96)) for s in styles]
        expected = 0.0
        for n in loss[2.0].opts.style_layers:
            mo, so = channel_stats(fo[n])
            (m0, s0), (m1, s1) = channel_stats(fs[0][n]), channel_stats(fs[1][n])
            mt, st = 0.25 * m0 + 0.75 * m1, 0.25 * s0 + 0.75 * s1
            err = (mo - mt).pow(2).sum() + (so - st).pow(2).sum()
            expected += 2.0 * float(err / (mt.pow(2).sum() + st.pow(2).sum()))
        expected /= len(loss[2.0].opts.style_layers)
    assert expected > 0.01
    assert gap == pytest.approx(expected, rel=1e-3)
    with pytest.raises(OptionError, match="stats_weight"):
        FastOptions(stats_weight=-1)


def test_the_random_filter_term_adds_their_gram_error_at_each_scale() -> None:
    """``random_weight`` adds the relative Gram error of the untrained random filters at each
    of their scales (zero for the style itself); the filters are fixed by the seed."""
    from decaf.stylize.losses import RandomFilters

    loss = {}
    for rw in (0.0, 0.5):
        torch.manual_seed(0)
        opts = FastOptions(method="cin", style_size=96, random_weight=rw)
        loss[rw] = PerceptualLoss(opts, [_blocks(0)], pretrained=False).eval()
    style, other = picture_tensor(_blocks(0), 96), picture_tensor(_blocks(1), 96)
    w = torch.ones(1, 1)
    rf = RandomFilters(seed=0)
    assert torch.equal(rf.weight, loss[0.5].rf.weight) and len(rf.names) == 4
    with torch.no_grad():
        assert float(loss[0.5](style, style, w)["style"]) < 1e-6
        gap = float(loss[0.5](other, other, w)["style"] - loss[0.0](other, other, w)["style"])
        fo, fs = rf(other), rf(style)
        expected = sum(0.5 * float(batched_relative_error(batched_gram(fo[n]),
                                                          batched_gram(fs[n])))
                       for n in rf.names) / len(loss[0.5].opts.style_layers)  # fmt: skip
    assert expected > 0.01
    assert gap == pytest.approx(expected, rel=1e-3)
    assert fo["random3"].shape[-1] == 12 and rf.names[0] == "random1"  # 96 px halved 3 times
    assert not torch.equal(RandomFilters(seed=1).weight, rf.weight)


def test_style_octaves_are_validated() -> None:
    with pytest.raises(OptionError, match="style_octaves must be 1, 2 or 3"):
        FastOptions(style_octaves=4)


def test_the_wct_styled_level_adds_the_halved_pictures_style_term() -> None:
    from decaf.stylize.model import build_net
    from decaf.stylize.train import StyledLevelLoss

    config = {"styles": 1, "wct_levels": ["blocks.2"], "width": 8}
    torch.manual_seed(0)
    net = build_net("wct", 1, config, pretrained=False).eval()
    x = picture_tensor(_blocks(2), 64)
    styles = {}
    for octaves in (1, 2):
        opts = FastOptions(method="wct", wct_levels=("blocks.2",), wct_styled="blocks.2",
                           style_size=96, painters=0, style_octaves=octaves)  # fmt: skip
        torch.manual_seed(0)  # the same encoder weights and the same style crop
        loss = StyledLevelLoss(opts, [_blocks(0)], pretrained=False)
        with torch.no_grad():
            styles[octaves] = float(loss(net, x)["blocks.2.style"])
    assert styles[2] > 1.05 * styles[1] > 0


def test_crop_scale_sets_the_smallest_content_crop_as_a_share_of_the_short_side() -> None:
    """At 1 every crop spans the whole short side (both bright bands of a wide picture); at
    0.25 small crops fall between the bands."""
    arr = np.zeros((64, 96, 3), np.uint8)
    arr[:4], arr[-4:] = 255, 255
    torch.manual_seed(0)
    whole = ContentCrops([Image.fromarray(arr)], size=32, length=40, smallest=1.0)
    for x, _ in (whole[i] for i in range(40)):
        assert float(x[:, 0].mean()) > 0.5 and float(x[:, -1].mean()) > 0.5
    small = ContentCrops([Image.fromarray(arr)], size=32, length=40, smallest=0.25)
    assert any(float(x.max()) < 0.1 for x, _ in (small[i] for i in range(40)))
    for bad in (0.0, 1.5):
        with pytest.raises(OptionError, match="crop_scale"):
            FastOptions(crop_scale=bad)
