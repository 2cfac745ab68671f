from __future__ import annotations

from pathlib import Path

import pytest
import torch

from decaf.classify import model as cmodel
from decaf.classify.predict import Classifier
from decaf.core.bundle import BundleError, save_bundle
from decaf.core.errors import OptionError
from decaf.train.solver import ParamRule, SolverConfig, param_groups


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("efficientnet_lite0", ["classifier.*"]),
        ("resnet50", ["fc.*"]),
        ("vgg16", ["head.fc.*"]),
        ("inception_v4", ["last_linear.*"]),
        ("mobilenetv3_large_100", ["classifier.*"]),
    ],
)
def test_head_is_found_for_every_family(name: str, head: list[str]) -> None:
    net = cmodel.build(name, 3, pretrained=False)
    assert cmodel.head_patterns(net) == head
    groups = param_groups(net, SolverConfig(rules=[ParamRule(p, 10) for p in head]))
    boosted = [n for g in groups if g["lr_mult"] == 10 for n in g["names"]]
    assert boosted and all(n.startswith(head[0][:-2]) for n in boosted)


def test_freeze_keeps_batchnorm_statistics_in_training_mode() -> None:
    net = cmodel.build("efficientnet_lite0", 4, pretrained=False)
    n_stages = len(cmodel.stages(net)) - 1
    frozen = cmodel.freeze(net, 2)
    assert frozen > 0
    stem_bn = net.bn1
    before = stem_bn.running_mean.clone()
    later = dict(net.named_modules())["blocks.5.0.bn1"]
    later_before = later.running_mean.clone()
    net.train()
    net(torch.randn(2, 3, 64, 64) * 3 + 1)
    assert torch.equal(stem_bn.running_mean, before)  # frozen stage: statistics unchanged
    assert not torch.equal(later.running_mean, later_before)  # trainable stage: updated
    assert not net.conv_stem.weight.requires_grad and net.classifier.weight.requires_grad
    whole = cmodel.build("efficientnet_lite0", 4, pretrained=False)
    cmodel.freeze(whole, -1)
    trainable = [n for n, p in whole.named_parameters() if p.requires_grad]
    assert trainable == ["classifier.weight", "classifier.bias"]
    with pytest.raises(OptionError, match="stages"):
        cmodel.freeze(cmodel.build("efficientnet_lite0", 4, pretrained=False), n_stages + 1)


def test_bundle_round_trip_predicts_the_same(tmp_path: Path, rgb_image) -> None:
    net = cmodel.build("efficientnet_lite0", 3, pretrained=False)
    cmodel.freeze(net, 1)  # frozen BN layers must still load back
    prep = cmodel.preprocessing("efficientnet_lite0", 64)
    path = cmodel.save(
        net,
        tmp_path / "m.pt",
        "efficientnet_lite0",
        ["a", "b", "c"],
        prep,
        metrics={"val": {"top1": 0.5}},
    )
    a = Classifier(net, ["a", "b", "c"], prep).probabilities([rgb_image])
    clf = Classifier.from_bundle(path)
    b = clf.probabilities([rgb_image])
    torch.testing.assert_close(a, b)
    assert clf.classes == ["a", "b", "c"] and clf.prep["input_size"] == 64
    top = clf.predict([rgb_image], top=2)[0]
    assert len(top) == 2 and top[0].score >= top[1].score


def test_bundle_loader_refuses_other_files(tmp_path: Path) -> None:
    fake = tmp_path / "fake.pt"
    torch.save({"state_dict": {}}, fake)
    with pytest.raises(BundleError, match="not a decaf bundle"):
        Classifier.from_bundle(fake)
    (tmp_path / "pic.pt").write_bytes(b"\x89PNG not a torch file")
    with pytest.raises(BundleError, match="not a decaf bundle"):
        Classifier.from_bundle(tmp_path / "pic.pt")
    other = save_bundle({"task": "detect", "arch": "x", "state_dict": {}}, tmp_path / "d.pt")
    with pytest.raises(BundleError, match="'detect' bundle"):
        Classifier.from_bundle(other)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "decaf-bundle", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(BundleError, match="without running code"):
        Classifier.from_bundle(tmp_path / "evil.pt")


def test_imagenet_out_of_the_box() -> None:
    import skimage.data

    clf = Classifier.from_zoo("efficientnet_lite0")
    plain = clf.predict([skimage.data.chelsea(), skimage.data.coffee()], top=1)
    assert [p[0].label for p in plain] == ["Egyptian cat", "espresso"]
    ten = clf.predict([skimage.data.chelsea()], top=1, oversample=True)
    assert ten[0][0].index == 285 and ten[0][0].score != plain[0][0].score


def test_every_zoo_family_gets_a_head_and_stages() -> None:
    """Built on the meta device (no memory, no weights): the recipe's parts exist for each."""
    from decaf.zoo.registry import list_models

    for name in list_models():
        with torch.device("meta"):
            net = cmodel.build(name, 5, pretrained=False)
        heads = cmodel.head_patterns(net)
        groups = cmodel.stages(net)
        assert len(groups) >= 3, name
        head_params = [n for n, _ in net.named_parameters() if any(
            n.startswith(h[:-2] + ".") for h in heads)]  # fmt: skip
        assert head_params, name
        out_dims = {dict(net.named_parameters())[n].shape[0] for n in head_params}
        assert out_dims == {5} and net.num_classes == 5, name


def test_activation_maps_cover_the_whole_picture(rgb_image) -> None:
    net = cmodel.build("efficientnet_lite0", 4, pretrained=False)
    clf = Classifier(net, ["a", "b", "c", "d"], cmodel.preprocessing("efficientnet_lite0"))
    wide = rgb_image.resize((400, 200))
    preds, maps = clf.activation_maps(wide, top=3, side=320)
    assert [p.score for p in preds] == sorted((p.score for p in preds), reverse=True)
    assert maps.shape == (3, 160 // 32, 320 // 32)  # aspect kept, sides multiples of 32
    assert float(maps.min()) >= 0 and abs(float(maps.amax((1, 2)).min()) - 1) < 1e-6
    with pytest.raises(OptionError, match="top"):
        clf.activation_maps(wide, top=0)
