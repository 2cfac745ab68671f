"""Feed-forward style networks: shapes, CIN blend math, StyleBank extension, AdaIN statistics."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from decaf.core.errors import OptionError
from decaf.stylize.nets import (
    AdaINNet,
    CondInstanceNorm,
    StyleBankNet,
    TransformNet,
    adain,
    channel_stats,
)


@pytest.mark.parametrize("hw", [(64, 64), (70, 93), (33, 128)])
def test_transform_net_keeps_any_picture_size(hw: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = TransformNet(styles=3, width=8, blocks=2).eval()
    x = torch.rand(2, 3, *hw)
    with torch.no_grad():
        y = net(x, 1)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(OptionError, match="style index 3 out of range"):
        net(x, 3)


def test_cin_matches_instance_norm_and_blends_linearly() -> None:
    torch.manual_seed(0)
    norm = CondInstanceNorm(5, styles=2)
    norm.gamma.data = torch.rand(2, 5) + 0.5
    norm.beta.data = torch.randn(2, 5)
    x = torch.randn(1, 5, 9, 11)
    one = norm(x, torch.tensor([[1.0, 0.0]]))
    ref = torch.nn.functional.instance_norm(x, weight=norm.gamma[0], bias=norm.beta[0])
    assert torch.allclose(one, ref, atol=1e-5)
    # a blend of styles is the same blend of their (γ, β): IN(x)·(wγ) + wβ
    w = torch.tensor([[0.3, 0.7]])
    blend = norm(x, w)
    mixed = torch.nn.functional.instance_norm(
        x, weight=(w @ norm.gamma)[0], bias=(w @ norm.beta)[0]
    )
    assert torch.allclose(blend, mixed, atol=1e-5)
    # and, being affine in (γ, β), equals the same blend of the two one-style outputs
    two = norm(x, torch.tensor([[0.0, 1.0]]))
    assert torch.allclose(blend, 0.3 * one + 0.7 * two, atol=1e-5)


def test_adding_a_cin_style_keeps_the_old_ones() -> None:
    torch.manual_seed(0)
    net = TransformNet(styles=2, width=8, blocks=1).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        before = [net(x, k) for k in range(2)]
        assert net.add_style(like=1) == 2
        after = [net(x, k) for k in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(before, after[:2], strict=False))
    assert torch.equal(after[2], after[1])  # a copy of style 1 until trained


def test_stylebank_new_style_leaves_old_styles_bit_identical(tmp_path: Path) -> None:
    from decaf.stylize import resolve_style
    from decaf.stylize.model import load_style_net
    from decaf.stylize.train import FastOptions, train_style

    styles = [resolve_style(n, size=64) for n in ("swirl", "mosaic")]
    opts = FastOptions(method="stylebank", iters=3, batch=2, size=48, style_size=64,
                       styles_names=("swirl", "mosaic"))  # fmt: skip
    content = [resolve_style("hatching", size=96)]
    train_style(styles, tmp_path / "bank.pt", opts, content=content)
    more = FastOptions(method="stylebank", iters=3, batch=2, size=48, style_size=64,
                       styles_names=("pointillism",))  # fmt: skip
    summary = train_style([resolve_style("pointillism", size=64)], tmp_path / "bank3.pt", more,
                          content=content, base=tmp_path / "bank.pt")  # fmt: skip
    assert summary["styles"] == ["swirl", "mosaic", "pointillism"]
    old, _ = load_style_net(tmp_path / "bank.pt")
    new, info = load_style_net(tmp_path / "bank3.pt")
    assert info["styles"] == summary["styles"] and new.styles == 3
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        for k in range(2):
            assert torch.equal(old(x, k), new(x, k))
        assert not torch.equal(new(x, 2), new(x, 1))
        assert torch.equal(old(x, None), new(x, None))  # the auto-encoder is untouched


def test_cin_new_style_trains_only_its_rows(tmp_path: Path) -> None:
    from decaf.stylize import resolve_style
    from decaf.stylize.model import load_style_net
    from decaf.stylize.train import FastOptions, train_style

    content = [resolve_style("hatching", size=96)]
    base = FastOptions(method="cin", iters=2, batch=2, size=48, style_size=64, width=8, blocks=1)
    train_style([resolve_style("swirl", size=64)], tmp_path / "a.pt", base, content=content)
    train_style([resolve_style("mosaic", size=64)], tmp_path / "b.pt", base, content=content,
                base=tmp_path / "a.pt")  # fmt: skip
    old, _ = load_style_net(tmp_path / "a.pt")
    new, _ = load_style_net(tmp_path / "b.pt")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(old(x, 0), new(x, 0))
        assert not torch.equal(new(x, 1), new(x, 0))


def test_cin_finetune_trains_every_weight_on_the_same_styles(tmp_path: Path) -> None:
    from decaf.stylize import resolve_style
    from decaf.stylize.model import load_style_net
    from decaf.stylize.train import FastOptions, train_style

    content = [resolve_style("hatching", size=96)]
    styles = [resolve_style("swirl", size=64), resolve_style("mosaic", size=64)]
    opts = FastOptions(method="cin", iters=2, batch=2, size=48, style_size=64, width=8, blocks=1,
                       styles_names=("swirl", "mosaic"))  # fmt: skip
    train_style(styles, tmp_path / "a.pt", opts, content=content)
    tune = replace(opts, size=64, finetune=True, styles_names=(), width=16, blocks=5)
    train_style(styles, tmp_path / "b.pt", tune, content=content, base=tmp_path / "a.pt")
    old, _ = load_style_net(tmp_path / "a.pt")
    new, info = load_style_net(tmp_path / "b.pt")
    assert new.styles == 2 and info["styles"] == ["swirl", "mosaic"]
    assert info["config"]["size"] == 64 and info["config"]["finetune"]  # this run's settings
    assert info["config"]["width"] == 8 and info["config"]["blocks"] == 1  # the base's shape
    changed = {k for k, v in old.state_dict().items() if not torch.equal(v, new.state_dict()[k])}
    assert any("conv" in k for k in changed) and any("norm" in k for k in changed)
    with pytest.raises(OptionError, match="fine-tuning needs the same styles"):
        train_style(styles[:1], tmp_path / "c.pt", tune, content=content, base=tmp_path / "a.pt")
    with pytest.raises(OptionError, match="finetune needs a base"):
        train_style(styles, tmp_path / "c.pt", tune, content=content)
    with pytest.raises(OptionError, match="finetune goes with fast, cin and stylebank"):
        FastOptions(method="adain", finetune=True)


def test_a_bundle_from_before_dilations_extends_and_loads(tmp_path: Path) -> None:
    """A base bundle whose config has no ``dilations`` (the shipped ones) extended with a new
    style writes a bundle that loads (it was written with an empty list that did not)."""
    from decaf.core.bundle import save_bundle
    from decaf.stylize import resolve_style
    from decaf.stylize.model import load_style_net
    from decaf.stylize.train import FastOptions, train_style

    net = TransformNet(styles=1, width=8, blocks=1, pad="reflect")
    assert "dilations" not in net.config
    save_bundle({"task": "stylize", "arch": "cin", "classes": ["a"],
                 "state_dict": net.state_dict(), "config": net.config},
                tmp_path / "a.pt")  # fmt: skip
    opts = FastOptions(method="cin", iters=1, batch=1, size=48, style_size=64, width=8, blocks=1)
    train_style([resolve_style("mosaic", size=64)], tmp_path / "b.pt", opts,
                content=[resolve_style("hatching", size=96)], base=tmp_path / "a.pt")  # fmt: skip
    new, _ = load_style_net(tmp_path / "b.pt")
    assert new.styles == 2 and new.config["pad"] == "reflect"


def test_adain_output_statistics_equal_the_styles() -> None:
    torch.manual_seed(0)
    content, style = torch.randn(2, 8, 10, 12) * 3 + 1, torch.randn(2, 8, 7, 9) * 0.5 - 2
    mean, std = channel_stats(style)
    t = adain(content, mean, std)
    tm, ts = channel_stats(t)
    assert torch.allclose(tm, mean, atol=1e-4) and torch.allclose(ts, std, atol=1e-3)
    enc = torch.nn.Conv2d(3, 8, 3, stride=4, padding=1)
    net = AdaINNet(enc, channels=8, stride=4, width=8).eval()
    with torch.no_grad():
        y = net(torch.rand(1, 3, 37, 50), torch.rand(1, 3, 32, 32))
        same = net(torch.rand(1, 3, 37, 50), torch.rand(1, 3, 32, 32), alpha=0.0)
    assert y.shape == (1, 3, 37, 50) and same.shape == y.shape
    assert not any(p.requires_grad for p in net.encoder.parameters())


def test_stylebank_blend_and_shapes() -> None:
    torch.manual_seed(0)
    net = StyleBankNet(styles=2, width=8).eval()
    x = torch.rand(1, 3, 45, 61)
    with torch.no_grad():
        assert net(x, 0).shape == x.shape and net(x, None).shape == x.shape
        assert torch.allclose(net(x, [1.0, 0.0]), net(x, 0))


def test_stylebank_resume_keeps_the_alternation(tmp_path: Path) -> None:
    """6 updates straight == resume from the snapshot at 2 and finish: the auto-encoder steps
    (every third update) fall on the same updates, because their counter is in the snapshot."""
    from decaf.core.bundle import load_bundle
    from decaf.stylize import resolve_style
    from decaf.stylize.train import FastOptions, train_style

    styles = [resolve_style(n, size=64) for n in ("swirl", "mosaic")]
    content = [resolve_style("hatching", size=96)]
    opts = FastOptions(method="stylebank", iters=6, batch=2, size=48, style_size=64, width=8,
                       snapshot_interval=2, styles_names=("swirl", "mosaic"))  # fmt: skip
    train_style(styles, tmp_path / "a.pt", opts, content=content, run_dir=tmp_path / "a.run")
    snap = tmp_path / "a.run" / "snapshots" / "iter_00000002.pt"
    assert snap.exists()
    train_style(styles, tmp_path / "b.pt", opts, content=content, run_dir=tmp_path / "b.run",
                resume=snap)  # fmt: skip
    a, b = (load_bundle(tmp_path / n)["state_dict"] for n in ("a.pt", "b.pt"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def _onnx_gap(net: TransformNet, h: int, w: int) -> float:
    """Largest difference between a one-style network and its exported ONNX graph."""
    import io

    import onnxruntime as ort

    from decaf.stylize.predict import export_onnx

    buf = io.BytesIO()
    export_onnx(net, buf)
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    z = torch.rand(1, 3, h, w)
    with torch.no_grad():
        ref = net(z, 0).numpy()
    out = session.run(None, {"image": z.numpy(), "style": np.ones((1, 1), np.float32)})[0]
    return float(np.abs(out - ref).max())


def test_reflect_padding_reaches_every_convolution_and_survives_a_bundle(tmp_path: Path) -> None:
    """pad="reflect": every 3×3 convolution reflects (so the network cannot find its crops'
    borders, as it does through zero padding); the bundle keeps the choice and its ONNX graph
    computes the same."""

    from decaf.core.bundle import save_bundle
    from decaf.stylize.model import load_style_net

    def modes(net: TransformNet) -> set[str]:
        return {m.padding_mode for m in net.modules()
                if isinstance(m, torch.nn.Conv2d) and m.kernel_size != (1, 1)}  # fmt: skip

    assert modes(TransformNet(width=8, blocks=2)) == {"zeros", "reflect"}  # inner ones zeros
    torch.manual_seed(0)
    net = TransformNet(styles=1, width=8, blocks=2, pad="reflect").eval()
    assert modes(net) == {"reflect"}
    path = tmp_path / "r.pt"
    config = {"styles": 1, "width": 8, "blocks": 2, "pad": "reflect"}
    save_bundle({"task": "stylize", "arch": "cin", "classes": ["a"],
                 "state_dict": net.state_dict(), "config": config}, path)  # fmt: skip
    loaded, info = load_style_net(path)
    assert info["config"]["pad"] == "reflect" and loaded.config["pad"] == "reflect"
    assert _onnx_gap(loaded, 40, 56) <= 1e-4
    with pytest.raises(OptionError, match="pad must be zeros or reflect"):
        TransformNet(pad="same")


def _reach(net: TransformNet, side: int = 256) -> int:
    """How far (px, along the centre row) a change of the centre pixel moves the output by a
    tenth of its largest move (instance norm spreads a faint trace of it everywhere)."""
    x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0))
    y = x.clone()
    y[..., side // 2, side // 2] = 1 - y[..., side // 2, side // 2]
    with torch.no_grad():
        diff = (net(x, 0) - net(y, 0)).abs().amax(dim=1)[0, side // 2]
    moved = torch.nonzero(diff > 0.1 * diff.max()).flatten()
    return int(moved.max() - side // 2)


def test_dilations_widen_the_view_and_survive_a_bundle_and_onnx(tmp_path: Path) -> None:
    """Dilated residual blocks see farther at the same cost; the bundle keeps them and the
    ONNX graph computes the same; pictures below the dilated blocks' need are padded."""

    from decaf.core.bundle import save_bundle
    from decaf.stylize.model import load_style_net
    from decaf.stylize.predict import FastStylizer

    torch.manual_seed(0)
    plain = TransformNet(styles=1, width=8, blocks=3, pad="reflect").eval()
    torch.manual_seed(0)
    net = TransformNet(styles=1, width=8, blocks=3, pad="reflect", dilations=[1, 4, 2]).eval()
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in plain.parameters())
    assert _reach(net) > 1.5 * _reach(plain)
    path = tmp_path / "d.pt"
    save_bundle({"task": "stylize", "arch": "cin", "classes": ["a"],
                 "state_dict": net.state_dict(), "config": net.config}, path)  # fmt: skip
    loaded, _ = load_style_net(path)
    assert loaded.config["dilations"] == [1, 4, 2] and loaded.min_side == 40
    assert _onnx_gap(loaded, 48, 56) <= 1e-4
    for engine in ("torch", "onnx"):
        tiny = FastStylizer(path, engine=engine)(Image.new("RGB", (24, 9), (9, 99, 199)), "a")
        assert tiny.size == (24, 9)
    with pytest.raises(OptionError, match="one whole number in 1..8 per residual block"):
        TransformNet(blocks=2, dilations=[1, 9])
