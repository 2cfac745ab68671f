"""The one encoder records named layers, prunes what is deeper, smooths on request, and works
on a second family of networks for AdaIN and the perceptual losses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from decaf.core.errors import OptionError
from decaf.zoo.encoder import Encoder, layer_names, stage_names


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.c = nn.Conv2d(5, 6, 3, padding=1)

    def forward(self, x):
        x = self.b(torch.relu(self.a(x)))
        return self.c(x)


def test_records_layers_and_stops_after_the_deepest():
    net = Tiny()
    ext = Encoder(net, ["a", "b"], mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    out = ext(torch.rand(1, 3, 8, 8))
    assert out["a"].shape == (1, 4, 8, 8) and out["b"].shape == (1, 5, 4, 4)
    # the traced graph ends at "b": "c" is neither kept nor run
    assert "c" not in dict(ext.body.named_modules())
    assert all(not p.requires_grad for p in net.parameters())


def test_normalisation_uses_the_weights_statistics():
    net = Tiny()
    ext = Encoder(net, ["a"], mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    x = torch.rand(1, 3, 8, 8)
    expected = torch.nn.functional.conv2d((x - 0.5) / 0.25, net.a.weight, net.a.bias, padding=1)
    assert torch.allclose(ext(x)["a"], expected)


def test_swag_smoothing_is_a_channel_softmax():
    ext = Encoder(Tiny(), ["a", "b"], mean=(0, 0, 0), std=(1, 1, 1), smoothing={"b": 2.0})
    out = ext(torch.rand(1, 3, 8, 8))
    assert torch.allclose(out["b"].sum(1), torch.ones(1, 4, 4))
    assert not torch.allclose(out["a"].sum(1), torch.ones(1, 8, 8))


def _randomised_lite0() -> nn.Module:
    """Lite0 without weights, its BatchNorms given statistics a fold could get wrong."""
    from decaf.zoo.registry import create_model

    net = create_model("efficientnet_lite0", pretrained=False).eval()
    gen = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)
    return net


def test_frozen_batchnorm_is_folded_without_changing_outputs_or_gradients() -> None:
    net = _randomised_lite0()
    layers = ["conv_stem", "bn1", "blocks.1", "blocks.3"]
    kept = net.blocks[1][0].conv_pw.weight.clone()
    stats = {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    plain = Encoder(net, layers, frozen=False, **stats).eval()
    folded = Encoder(net, layers, **stats)
    # every BatchNorm went into its convolution; conv_stem's own output is a layer, so its
    # BatchNorm (bn1) stays
    norms = [n for n, m in folded.named_modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms == ["body.bn1"]
    assert torch.equal(net.blocks[1][0].conv_pw.weight, kept)  # the caller's network untouched
    x = torch.rand(1, 3, 64, 80, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    a, b = plain(x), folded(x2)
    for name in layers:
        scale = float(a[name].detach().abs().max())
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-4 * scale)
    sum(t.square().mean() for t in a.values()).backward()
    sum(t.square().mean() for t in b.values()).backward()
    assert torch.allclose(x.grad, x2.grad, rtol=1e-3, atol=1e-3 * float(x.grad.abs().max()))


def test_unknown_layer_is_a_clear_error():
    with pytest.raises(OptionError, match="unknown layer"):
        Encoder(Tiny(), ["zzz"], mean=(0, 0, 0), std=(1, 1, 1))
    assert {"a", "b", "c"} <= set(layer_names(Tiny()))


def test_stages_of_two_families_and_their_shapes() -> None:
    assert stage_names("efficientnet_lite0", "blocks.2") == ["bn1", "blocks.0", "blocks.1",
                                                             "blocks.2"]  # fmt: skip
    assert stage_names("resnet50", "layer2") == ["act1", "layer1", "layer2"]
    with pytest.raises(OptionError, match="not a stage"):
        stage_names("resnet50", "layer9")
    enc = Encoder("resnet50", stage_names("resnet50", "layer2"), pretrained=False)
    assert enc.shapes() == {"act1": (64, 2), "layer1": (256, 4), "layer2": (512, 8)}
    # one encoder serves two threads at once: each call gets its own dict
    from concurrent.futures import ThreadPoolExecutor

    xs = [torch.rand(1, 3, 32, 32) for _ in range(4)]
    with torch.no_grad():
        alone = [enc(x)["layer2"] for x in xs]
        with ThreadPoolExecutor(2) as pool:
            together = list(pool.map(lambda x: enc(x)["layer2"], xs))
    assert all(torch.equal(a, b) for a, b in zip(alone, together, strict=True))


def test_adain_and_perceptual_loss_on_a_resnet(tmp_path) -> None:  # noqa: ANN001
    """AdaIN and the feed-forward losses are not tied to EfficientNet: a ResNet-50 (random
    weights; no offline ImageNet weights for it) encodes, decodes and trains."""
    from decaf.stylize.model import build_net, load_style_net
    from decaf.stylize.procedural import builtin_style
    from decaf.stylize.train import FastOptions, train_style

    net = build_net("adain", 1, {"backbone": "resnet50", "adain_layer": "layer1"},
                    pretrained=False)  # fmt: skip
    assert (net.stride, net.decoder[0].in_channels) == (4, 256)
    with torch.no_grad():
        y = net(torch.rand(1, 3, 37, 50), torch.rand(1, 3, 32, 32))
    assert y.shape == (1, 3, 37, 50)
    style = [builtin_style("swirl", size=64)]
    content = [builtin_style("hatching", size=96)]
    for method, extra in (("adain", {"adain_layer": "layer1"}),
                          ("fast", {"style_layers": ("act1", "layer1"),
                                    "content_layers": ("layer1",)})):  # fmt: skip
        opts = FastOptions(method=method, iters=2, batch=1, size=48, style_size=64, width=8,
                           backbone="resnet50", **extra)  # fmt: skip
        summary = train_style(style, tmp_path / f"{method}.pt", opts, content=content,
                              pretrained=False)  # fmt: skip
        assert summary["iterations"] == 2 and all(
            torch.isfinite(torch.tensor(v)) for v in summary["train"].values()
        )
        loaded, info = load_style_net(tmp_path / f"{method}.pt", pretrained=False)
        assert info["config"]["backbone"] == "resnet50"
