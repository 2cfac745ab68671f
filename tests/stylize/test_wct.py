"""Universal style transfer: the transform's statistics, the decoders' training, the stylizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decaf.core.errors import OptionError
from decaf.stylize import predict, wct
from decaf.stylize.predict import FastStylizer


def _features(seed: int, c: int = 6, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g)
    return (mix @ torch.randn(c, 400, generator=g) * scale + seed).reshape(1, c, 20, 20)


def _cov(f: torch.Tensor) -> torch.Tensor:
    x = f[0].reshape(f.shape[1], -1).double()
    x = x - x.mean(1, keepdim=True)
    return x @ x.T / (x.shape[1] - 1)


def test_whitening_and_colouring_give_the_styles_mean_and_covariance() -> None:
    """What WCT promises: after it, the content's features have the style's channel mean and
    full covariance (AdaIN matches only the diagonal), and alpha 0 leaves them untouched."""
    fc, fs = _features(1), _features(2, scale=3.0)
    t = wct.transform(wct.moments(fc), [wct.moments(fs)], [1.0])(fc)
    assert torch.allclose(t.mean((2, 3)).double(), fs.mean((2, 3)).double(), atol=1e-3)
    assert torch.allclose(_cov(t), _cov(fs), atol=1e-3 * float(_cov(fs).abs().max()))
    # the whitened content keeps its own arrangement: t correlates with fc position by position
    same = wct.transform(wct.moments(fc), [wct.moments(fs)], [1.0], alpha=0.0)(fc)
    assert torch.allclose(same, fc, atol=1e-4)
    half = wct.transform(wct.moments(fc), [wct.moments(fs)], [1.0], alpha=0.5)(fc)
    assert torch.allclose(half, 0.5 * (t + fc), atol=1e-3)


def test_a_blend_is_the_blend_of_the_transforms() -> None:
    fc, a, b = _features(1), _features(2), _features(3, scale=0.5)
    m = wct.moments
    ta = wct.transform(m(fc), [m(a)], [1.0])(fc)
    tb = wct.transform(m(fc), [m(b)], [1.0])(fc)
    mix = wct.transform(m(fc), [m(a), m(b)], [3.0, 1.0])(fc)
    assert torch.allclose(mix, 0.75 * ta + 0.25 * tb, atol=1e-3)
    with pytest.raises(OptionError, match="1 weights for 2 styles"):
        wct.transform(m(fc), [m(a), m(b)], [1.0])


def test_rank_deficient_features_do_not_blow_up() -> None:
    """A flat picture's features have zero variance in most directions; dropping those
    eigenvalues (Li et al.) keeps the transform finite."""
    flat = torch.ones(1, 6, 10, 10)
    t = wct.transform(wct.moments(flat), [wct.moments(_features(2))], [1.0])(flat)
    assert bool(torch.isfinite(t).all())


def _picture(h: int, w: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([np.sin(xx / 17), np.cos(yy / 23), np.sin((xx + yy) / 31)], -1) * 0.4 + 0.5
    noisy = np.clip(base + rng.normal(0, 0.05, base.shape), 0, 1)
    return Image.fromarray((noisy * 255).astype(np.uint8))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WCT bundle from ``train_style`` (a few steps: enough to have decoders that learnt)."""
    from decaf.stylize.train import FastOptions, train_style

    out = tmp_path_factory.mktemp("wct") / "wct.pt"
    opts = FastOptions(method="wct", iters=12, batch=2, size=64, width=8, lr=3e-3, seed=0)
    summary = train_style([_picture(80, 80, 1)], out, opts, content=[_picture(120, 160, 2)])
    first = summary["train"]
    assert summary["bundle"] == str(out) and all(k in first for k in ("bn1.pixels", "loss"))
    return out


def test_a_trained_bundle_keeps_only_its_decoders_and_stylizes(trained: Path) -> None:
    from decaf.core.bundle import load_bundle

    state = load_bundle(trained, task="stylize")["state_dict"]
    assert state and all(k.startswith("decoders.") for k in state)
    stylizer = FastStylizer(trained, method="wct")
    pic, styles = _picture(50, 70), [_picture(64, 64, 3), _picture(64, 64, 4)]
    out = stylizer(pic, style_images=styles, style_weights=[0.5, 0.5], alpha=0.5)
    assert out.size == (70, 50)
    half = np.zeros((50, 70), np.float32)
    half[:, :35] = 1
    assert stylizer(pic, style_images=styles, masks=[half, 1 - half]).size == (70, 50)
    with pytest.raises(OptionError, match="1 masks for 2 styles"):
        stylizer(pic, style_images=styles, masks=[half])
    with pytest.raises(OptionError, match="at least one style picture"):
        stylizer(pic)
    with pytest.raises(OptionError, match="wct model takes style pictures; use --method wct"):
        FastStylizer(trained, method="fast")
    with pytest.raises(OptionError, match="a wct model, not one for --method adain"):
        FastStylizer(trained, method="adain")


def test_tiles_share_one_transform_and_match_the_whole() -> None:
    """The shipped model in tiles: each level's transform comes from the whole picture (a
    preview), so the tiles agree with the untiled result (measured 0.56 of 255 at 384 px)."""
    from unittest import mock

    from decaf.stylize import resolve_content, resolve_style

    stylizer = FastStylizer(method="wct")
    pic, style = resolve_content("chelsea").resize((900, 600)), [resolve_style("swirl")]
    whole = np.asarray(stylizer(pic, style_images=style, tile=None), np.float32)
    with mock.patch("decaf.stylize.predict._tiles", side_effect=predict._tiles) as tiles:
        tiled = np.asarray(stylizer(pic, style_images=style, tile=384), np.float32)
    assert tiles.call_count == 2 and tiled.shape == whole.shape  # one per level
    assert np.abs(tiled - whole).mean() < 2.0  # of 255; the picture's own spread is ~45
    left = np.zeros((600, 900), np.float32)
    left[:, :450] = 1
    two, masks = [*style, resolve_style("mosaic")], [left, 1 - left]
    m_whole = np.asarray(stylizer(pic, style_images=two, masks=masks, tile=None), np.float32)
    m_tiled = np.asarray(stylizer(pic, style_images=two, masks=masks, tile=384), np.float32)
    assert np.abs(m_tiled - m_whole).mean() < 3.0
    # each half looks like its own style: the masked halves differ from each other's style
    only = np.asarray(stylizer(pic, style_images=two[:1], tile=None), np.float32)
    near = np.abs(m_whole[:, :400] - only[:, :400]).mean()
    far = np.abs(m_whole[:, 500:] - only[:, 500:]).mean()
    assert near < 0.5 * far


def test_work_size_runs_the_deep_levels_small_and_the_last_at_full_size(trained: Path) -> None:
    from unittest import mock

    stylizer = FastStylizer(trained, method="wct")
    pic, style = _picture(200, 300, 6), [_picture(64, 64, 3)]
    full = np.asarray(stylizer(pic, style_images=style), np.int16)
    same = np.asarray(stylizer(pic, style_images=style, work_size=300), np.int16)
    assert np.array_equal(full, same)  # a picture within the working size runs whole
    seen: list[tuple[str, tuple[int, ...]]] = []
    real = FastStylizer._wct_level

    def spy(self, level, x, *args):  # noqa: ANN001, ANN202
        seen.append((level, tuple(x.shape[-2:])))
        return real(self, level, x, *args)

    with mock.patch.object(FastStylizer, "_wct_level", spy):
        small = stylizer(pic, style_images=style, work_size=120)
    assert small.size == (300, 200)
    assert seen == [("blocks.4", (80, 120)), ("blocks.2", (80, 120)), ("bn1", (200, 300))]
    seen.clear()
    with mock.patch.object(FastStylizer, "_wct_level", spy):
        up = stylizer(pic, style_images=style, work_size=120, upscale=True)
    assert up.size == (300, 200)  # every level small, then the result scaled up
    assert seen == [("blocks.4", (80, 120)), ("blocks.2", (80, 120)), ("bn1", (80, 120))]
    assert not np.array_equal(np.asarray(up), np.asarray(small))
    with pytest.raises(OptionError, match="work_size goes with --method wct"):
        FastStylizer(method="adain")(pic, style_images=style, work_size=256)
    with pytest.raises(OptionError, match="upscale needs a work_size"):
        stylizer(pic, style_images=style, upscale=True)


def test_cli_wct_runs_and_refuses_work_size_elsewhere(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from decaf.cli import main

    _picture(90, 120).save(tmp_path / "in.png")
    _picture(64, 64, 3).save(tmp_path / "style.png")
    out = tmp_path / "out.png"
    args = ["stylize", str(tmp_path / "in.png"), "--method", "wct", "-m", str(trained),
            "-s", str(tmp_path / "style.png"), "--work-size", "64", "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    assert Image.open(out).size == (120, 90)
    assert main([*args, "--upscale"]) == 0
    assert Image.open(out).size == (120, 90)
    capsys.readouterr()
    assert main(["stylize", str(tmp_path / "in.png"), "--method", "fast", "--work-size", "64",
                 "-o", str(tmp_path / "no.png")]) == 2  # fmt: skip
    assert "--work-size do(es) not apply to --method fast" in capsys.readouterr().err
    assert not (tmp_path / "no.png").exists()


def test_a_styled_level_fine_tunes_from_a_base_and_learns_with_style_losses(
    trained: Path, tmp_path: Path
) -> None:
    """``wct_styled``: that level's decoder trains on whitened-and-coloured targets of the varied
    style pool with style losses, the others still reconstruct, and ``base`` gives the start."""
    from decaf.core.bundle import load_bundle
    from decaf.stylize.train import FastOptions, train_style

    out = tmp_path / "styled.pt"
    opts = FastOptions(method="wct", iters=2, batch=2, size=64, style_size=64, width=8,
                       lr=1e-12, wct_styled="blocks.2", painters=1, seed=0)  # fmt: skip
    summary = train_style([_picture(80, 80, 1)], out, opts, content=[_picture(120, 160, 2)],
                          base=trained)  # fmt: skip
    first = summary["train"]
    assert {"blocks.2.style", "blocks.2.content", "bn1.pixels", "blocks.4.pixels"} <= set(first)
    assert "blocks.2.pixels" not in first
    old, new = (load_bundle(p, task="stylize")["state_dict"] for p in (trained, out))
    assert new.keys() == old.keys()
    assert all(torch.allclose(new[k], old[k], atol=1e-6) for k in new)  # lr 1e-12: the base's
    with pytest.raises(OptionError, match="the styled level bn2 is not one of the WCT levels"):
        FastOptions(method="wct", wct_styled="bn2")
    models = Path(predict.__file__).parent / "models"
    with pytest.raises(OptionError, match=r"not a wct or adain bundle \(its method is cin\)"):
        train_style([_picture(80, 80, 1)], tmp_path / "x.pt", opts, base=models / "fast_builtin.pt")


def test_a_styled_level_can_start_from_the_adain_decoder(tmp_path: Path) -> None:
    """An AdaIN bundle as ``base``: its decoder starts the level its encoder ends at."""
    from decaf.core.bundle import load_bundle
    from decaf.stylize.train import FastOptions, train_style

    adain = Path(predict.__file__).parent / "models" / "adain_lite0.pt"
    opts = FastOptions(method="wct", iters=1, batch=1, size=64, style_size=64, lr=1e-12,
                       wct_levels=("blocks.2",), wct_styled="blocks.2", painters=0)  # fmt: skip
    train_style([_picture(80, 80, 1)], tmp_path / "s.pt", opts, content=[_picture(90, 90, 2)],
                base=adain, pretrained=False)  # fmt: skip
    old = load_bundle(adain, task="stylize")["state_dict"]
    new = load_bundle(tmp_path / "s.pt", task="stylize")["state_dict"]
    assert new.keys() == {"decoders.blocks_2" + k.removeprefix("decoder") for k in old}
    assert all(torch.allclose(new["decoders.blocks_2" + k.removeprefix("decoder")], v, atol=1e-6)
               for k, v in old.items())  # fmt: skip
