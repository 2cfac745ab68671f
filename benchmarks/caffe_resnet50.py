"""ResNet-50 as a Caffe deploy prototxt, built layer by layer (He et al.'s published deploy net:
conv → BatchNorm → Scale → ReLU, bottleneck blocks with projection shortcuts, 7×7 average
pooling, fc1000). The benchmark runs it with random weights that every peer reads."""

from __future__ import annotations

BLOCKS = {"2": 3, "3": 4, "4": 6, "5": 3}
WIDTH = {"2": 64, "3": 128, "4": 256, "5": 512}


def _conv_bn(name: str, bottom: str, out: int, k: int, stride: int = 1, pad: int = 0,
             relu: bool = True, bn: str | None = None) -> list[str]:  # fmt: skip
    """conv + BatchNorm + Scale (in place) + optional ReLU, named as in the published net."""
    bn = bn or name.replace("res", "bn", 1) if name.startswith("res") else f"bn_{name}"
    scale = bn.replace("bn", "scale", 1)
    lines = [
        f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
        f"convolution_param {{ num_output: {out} kernel_size: {k} pad: {pad} stride: {stride} "
        f"bias_term: false }} }}",
        f'layer {{ name: "{bn}" type: "BatchNorm" bottom: "{name}" top: "{name}" '
        "batch_norm_param { use_global_stats: true } }",
        f'layer {{ name: "{scale}" type: "Scale" bottom: "{name}" top: "{name}" '
        "scale_param { bias_term: true } }",
    ]
    if relu:
        lines.append(f'layer {{ name: "{name}_relu" type: "ReLU" bottom: "{name}" top: "{name}" }}')
    return lines


def resnet50(batch: int = 1, size: int = 224) -> str:
    """The deploy prototxt text for ``batch`` pictures of ``size``²."""
    lines = [
        'name: "ResNet-50"',
        f'layer {{ name: "data" type: "Input" top: "data" input_param {{ shape {{ dim: {batch} '
        f"dim: 3 dim: {size} dim: {size} }} }} }}",
        *_conv_bn("conv1", "data", 64, 7, 2, 3, bn="bn_conv1"),
        'layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" '
        "pooling_param { pool: MAX kernel_size: 3 stride: 2 } }",
    ]
    bottom, channels = "pool1", 64
    for stage, count in BLOCKS.items():
        width = WIDTH[stage]
        for i in range(count):
            block = f"{stage}{chr(ord('a') + i)}"
            stride = 2 if i == 0 and stage != "2" else 1
            if i == 0:
                shortcut = f"res{block}_branch1"
                lines += _conv_bn(shortcut, bottom, width * 4, 1, stride, relu=False)
            else:
                shortcut = bottom
            a, b, c = (f"res{block}_branch2{x}" for x in "abc")
            lines += _conv_bn(a, bottom, width, 1, stride)
            lines += _conv_bn(b, a, width, 3, 1, 1)
            lines += _conv_bn(c, b, width * 4, 1, relu=False)
            lines += [
                f'layer {{ name: "res{block}" type: "Eltwise" bottom: "{shortcut}" bottom: "{c}" '
                f'top: "res{block}" }}',
                f'layer {{ name: "res{block}_relu" type: "ReLU" bottom: "res{block}" '
                f'top: "res{block}" }}',
            ]
            bottom, channels = f"res{block}", width * 4
    lines += [
        f'layer {{ name: "pool5" type: "Pooling" bottom: "{bottom}" top: "pool5" '
        "pooling_param { pool: AVE kernel_size: 7 stride: 1 } }",
        'layer { name: "fc1000" type: "InnerProduct" bottom: "pool5" top: "fc1000" '
        "inner_product_param { num_output: 1000 } }",
        'layer { name: "prob" type: "Softmax" bottom: "fc1000" top: "prob" }',
    ]
    del channels
    return "\n".join(lines) + "\n"
