"""The feature extractor records named layers, stops early and smooths on request."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from decaf.core.errors import OptionError
from decaf.stylize.features import FeatureExtractor, layer_names


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 5, 3, stride=2, padding=1)
        self.c = nn.Conv2d(5, 6, 3, padding=1)
        self.ran_c = False

    def forward(self, x):
        x = self.b(torch.relu(self.a(x)))
        self.ran_c = True
        return self.c(x)


def test_records_layers_and_stops_after_the_deepest():
    net = Tiny()
    ext = FeatureExtractor(net, ["a", "b"], (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    out = ext(torch.rand(1, 3, 8, 8))
    assert out["a"].shape == (1, 4, 8, 8) and out["b"].shape == (1, 5, 4, 4)
    assert net.ran_c is False  # the forward pass was cut after "b"
    assert all(not p.requires_grad for p in net.parameters())


def test_normalisation_uses_the_weights_statistics():
    net = Tiny()
    ext = FeatureExtractor(net, ["a"], (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    x = torch.rand(1, 3, 8, 8)
    expected = torch.nn.functional.conv2d((x - 0.5) / 0.25, net.a.weight, net.a.bias, padding=1)
    assert torch.allclose(ext(x)["a"], expected)


def test_swag_smoothing_is_a_channel_softmax():
    ext = FeatureExtractor(Tiny(), ["a", "b"], (0, 0, 0), (1, 1, 1), smoothing={"b": 2.0})
    out = ext(torch.rand(1, 3, 8, 8))
    assert torch.allclose(out["b"].sum(1), torch.ones(1, 4, 4))
    assert not torch.allclose(out["a"].sum(1), torch.ones(1, 8, 8))


def test_unknown_layer_is_a_clear_error():
    with pytest.raises(OptionError, match="unknown layer"):
        FeatureExtractor(Tiny(), ["zzz"], (0, 0, 0), (1, 1, 1))
    assert {"a", "b", "c"} <= set(layer_names(Tiny()))
