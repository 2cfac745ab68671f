"""The one multi-layer encoder: any zoo network cut at named layers.

Gatys's losses, the feed-forward perceptual losses, AdaIN and the detector's backbone all ask
the same thing of a pretrained network: the outputs of some named layers for a picture, with
the input normalised the way its weights were trained. :class:`Encoder` answers it once.

It is built on timm's FX feature extraction (``timm.models._features_fx``, which knows the
modules torch.fx cannot trace, such as TF-"same" padding): the traced graph keeps only what the
deepest requested layer needs, so a loss on ``blocks.3`` never pays for ``blocks.6`` or the
classifier, and each call returns a fresh ``{layer: tensor}`` dict: no hooks, no state kept
between calls, so one encoder serves several threads.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from decaf.core.errors import OptionError
from decaf.zoo.registry import create_model, get_spec

#: The stem's output, the first "stage" of a network whose feature_info starts after it.
STEM = {"efficientnet": "bn1"}


def layer_names(model: nn.Module) -> list[str]:
    """Module names a user may pick as feature layers (the blocks and their direct children)."""
    return [name for name, _ in model.named_modules() if name and name.count(".") <= 2]


def stage_names(backbone: str, until: str | None = None) -> list[str]:
    """The network's stages in order (its stem, then timm's ``feature_info`` modules), up to
    and including ``until``: the layers AdaIN matches statistics at."""
    model = create_model(backbone, pretrained=False)
    info = getattr(model, "feature_info", None)
    if not info:
        raise OptionError(f"{backbone}: timm gives no feature stages for this network")
    names = [f["module"] for f in info]
    stem = STEM.get(get_spec(backbone).family)
    if stem is not None and stem not in names:
        names.insert(0, stem)
    if until is not None:
        if until not in names:
            raise OptionError(f"{backbone}: {until!r} is not a stage; choose one of {names}")
        names = names[: names.index(until) + 1]
    return names


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A copy of ``conv`` that computes ``bn(conv(x))`` for BatchNorm in eval mode."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    bias = -bn.running_mean * scale if conv.bias is None else (conv.bias - bn.running_mean) * scale
    if bn.bias is not None:
        bias = bias + bn.bias
    fused = copy.deepcopy(conv)
    fused.weight = nn.Parameter((conv.weight * scale.view(-1, 1, 1, 1)).detach(), False)
    fused.bias = nn.Parameter(bias.detach(), False)
    return fused


def _after_norm(bn: nn.BatchNorm2d) -> nn.Module:
    """What is left of a BatchNorm once folded: timm's BatchNormAct2d keeps its activation."""
    rest = [m for m in (getattr(bn, "drop", None), getattr(bn, "act", None)) if m is not None]
    return nn.Sequential(*rest) if rest else nn.Identity()


@torch.no_grad()
def fold_batchnorm(graph: torch.fx.GraphModule) -> int:
    """Fold each frozen BatchNorm into the convolution that alone feeds it; returns how many.

    In eval mode a BatchNorm is an affine map per channel, which the convolution's weights can
    carry. Measured on Lite0 at 512 px, BatchNorm's forward and backward were a third of a
    Gatys iteration (its backward over channels-last tensors is slow on CPU); folded, that
    time goes and the outputs are the same up to float rounding. A convolution whose own output
    is a requested layer (it has another user) is left alone.
    """
    folded = 0
    for node in graph.graph.nodes:
        if node.op != "call_module" or len(node.users) != 1:
            continue
        (user,) = node.users
        conv = graph.get_submodule(node.target)
        bn = graph.get_submodule(user.target) if user.op == "call_module" else None
        if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
            continue
        if bn.training or bn.running_mean is None:
            continue
        graph.set_submodule(node.target, _fold(conv, bn))
        graph.set_submodule(user.target, _after_norm(bn))
        folded += 1
    return folded


class Encoder(nn.Module):
    """``forward(x01)`` → ``{layer: features}`` for the requested ``layers`` of a network.

    ``backbone`` is a zoo name (its weights and their mean/std come from the zoo) or a module
    (give ``mean`` and ``std``). ``normalize=False`` leaves the input as it is (the detector's
    transform normalises before padding). A ``frozen`` encoder stays in eval mode with no
    gradients for its weights; gradients still flow to the input, and its BatchNorms are
    folded into their convolutions (:func:`fold_batchnorm`). ``channels_last`` runs the
    convolutions in that memory layout.
    """

    def __init__(
        self,
        backbone: str | nn.Module,
        layers: Sequence[str],
        *,
        pretrained: bool = True,
        weights: str | os.PathLike | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        normalize: bool = True,
        frozen: bool = True,
        smoothing: Mapping[str, float] | None = None,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        from timm.models._features_fx import create_feature_extractor

        if isinstance(backbone, str):
            spec = get_spec(backbone)
            mean, std = mean or spec.mean, std or spec.std
            backbone = create_model(backbone, pretrained=pretrained, weights=weights)
        elif normalize and (mean is None or std is None):
            raise OptionError("an encoder over a module needs the mean and std of its weights")
        self.layers = list(dict.fromkeys(layers))
        if not self.layers:
            raise OptionError("an encoder needs at least one layer")
        modules = dict(backbone.named_modules())
        unknown = [name for name in self.layers if name not in modules]
        if unknown:
            hint = ", ".join(layer_names(backbone)[:40])
            raise OptionError(f"unknown layer(s) {unknown}; this network has e.g.: {hint}")
        if frozen:
            backbone.requires_grad_(False)
        self.body = create_feature_extractor(backbone.eval(), {n: n for n in self.layers})
        if frozen:
            fold_batchnorm(self.body)
        if channels_last:  # ~25 % faster depthwise/pointwise convolutions on CPU (measured on
            self.body.to(memory_format=torch.channels_last)  # Lite0's forward + backward)
        self.channels_last = channels_last
        self.normalize = normalize
        self.smoothing = dict(smoothing or {})
        self.register_buffer("mean", torch.tensor(mean or (0.0,) * 3).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std or (1.0,) * 3).view(1, 3, 1, 1))
        self.frozen = frozen

    def train(self, mode: bool = True) -> Encoder:
        """A frozen encoder keeps its BatchNorm statistics whatever its parent does."""
        super().train(mode and not self.frozen)
        return self

    def forward(self, x01: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (x01 - self.mean) / self.std if self.normalize else x01
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.body(x)
        for name, temp in self.smoothing.items():  # SWAG: a channel softmax at temperature
            if temp:
                out[name] = torch.softmax(out[name] / temp, dim=1)
        return out

    def stages(self, x01: torch.Tensor) -> list[torch.Tensor]:
        """The layers' outputs in the order they were asked for."""
        out = self(x01)
        return [out[n] for n in self.layers]

    @torch.no_grad()
    def shapes(self, size: int = 64) -> dict[str, tuple[int, int]]:
        """(channels, stride) of every layer, measured on a ``size``² picture."""
        was = self.training
        self.eval()
        out = self(torch.zeros(1, 3, size, size, device=self.mean.device))
        self.train(was)
        return {n: (int(t.shape[1]), size // int(t.shape[-1])) for n, t in out.items()}
