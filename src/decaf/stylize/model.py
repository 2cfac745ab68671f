"""The feed-forward style networks as bundles: build one from its config, load a trained one.

A style bundle (``task: "stylize"``) holds the method (``fast``, ``cin``, ``stylebank``,
``adain``, ``wct``), the style names, the network's config and its weights; AdaIN and WCT
bundles keep only the decoders, since their encoder is the zoo's frozen network. Training is
:mod:`decaf.stylize.train`; running is :mod:`decaf.stylize.predict`.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from decaf.core.bundle import load_bundle
from decaf.core.errors import OptionError
from decaf.stylize.nets import AdaINNet, StyleBankNet, TransformNet
from decaf.zoo.encoder import Encoder, stage_names

TASK = "stylize"
METHODS = ("fast", "cin", "stylebank", "adain", "wct")
#: the methods that take any style picture; their bundles hold only decoders (the encoder is
#: the zoo's frozen network)
ARBITRARY = ("adain", "wct")
#: WCT's default levels on EfficientNet-Lite0, deep to shallow (strides 16, 8 and 2)
WCT_LEVELS = ("blocks.4", "blocks.2", "bn1")


def build_net(
    method: str, styles: int, config: dict[str, Any], pretrained: bool = True
) -> nn.Module:
    """The network for ``method`` with ``styles`` styles (config: width, blocks, backbone...)."""
    if method in ("fast", "cin"):
        return TransformNet(styles, config.get("width", 16), config.get("blocks", 5),
                            config.get("pad", "zeros"), config.get("dilations"))  # fmt: skip
    if method == "stylebank":
        return StyleBankNet(styles, config.get("width", 16))
    if method == "adain":
        backbone = config.get("backbone", "efficientnet_lite0")
        stages = stage_names(backbone, config.get("adain_layer", "blocks.2"))
        enc = Encoder(backbone, stages, pretrained=pretrained)
        channels, stride = enc.shapes()[stages[-1]]
        return AdaINNet(enc, channels, stride, width=config.get("decoder_width", 16))
    if method == "wct":
        return _wct_net(config, pretrained)
    raise OptionError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")


def _wct_net(config: dict[str, Any], pretrained: bool) -> nn.Module:
    from decaf.stylize.wct import WCTNet

    backbone = config.get("backbone", "efficientnet_lite0")
    levels = list(config.get("wct_levels", WCT_LEVELS))
    names = stage_names(backbone)
    wrong = [n for n in levels if n not in names]
    if wrong:
        raise OptionError(f"{backbone}: {wrong} are not stages; choose from {names}")
    # the deepest level's encoder gives every level (they lie on its way): one pass in training
    encoders = {n: Encoder(backbone, levels if k == 0 else [n], pretrained=pretrained)
                for k, n in enumerate(levels)}  # fmt: skip
    shapes = encoders[levels[0]].shapes()
    return WCTNet(encoders, shapes, width=config.get("width", 32))


def load_style_net(path: str | os.PathLike,
                   pretrained: bool = True) -> tuple[nn.Module, dict[str, Any]]:  # fmt: skip
    """A style bundle's network (eval mode) and its info: method, styles, config."""
    bundle = load_bundle(path, task=TASK)
    method, cfg = bundle["arch"], bundle["config"]
    net = build_net(method, int(cfg["styles"]), cfg, pretrained)
    frozen = method in ARBITRARY  # the bundle holds the decoders, not the zoo encoder
    missing, unexpected = net.load_state_dict(bundle["state_dict"], strict=not frozen)
    if frozen and (unexpected or any(not k.startswith("encoder") for k in missing)):
        raise OptionError(f"{path}: the {method} decoder does not fit its network")
    net.eval()
    return net, {"method": method, "styles": list(bundle["classes"]), "config": cfg}
