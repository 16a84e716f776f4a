"""MobileNetV1 0.25x of MLPerf Tiny visual wake words (96x96x3, 2 classes), in PyTorch.

From the MLPerf Tiny reference (mlcommons/tiny, benchmark/training/visual_wake_words,
vww_model.py) and Howard et al. 2017, Table 1, with width multiplier 0.25: a 3x3 stride-2
stem with 8 filters, then 13 depthwise-separable blocks, global average pooling, dense 2.
"""

from torch import nn

from codesign.workload.registry import register_workload

# (output channels at width 1.0, depthwise stride) of the 13 blocks, Howard et al. Table 1.
_BLOCKS = (
    [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)]
    + [(512, 1)] * 5
    + [
        (1024, 2),
        (1024, 1),
    ]
)


def _conv_bn(cin: int, cout: int, k: int, stride: int, groups: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    ]


@register_workload(
    "mobilenet_v1_025",
    input_shape=(1, 3, 96, 96),
    description="MLPerf Tiny visual wake words: MobileNetV1 0.25x on 96x96x3, 2 classes",
    num_classes=2,
)
def mobilenet_v1_025(num_classes: int = 2, alpha: float = 0.25) -> nn.Module:
    """A fresh MobileNetV1 with width multiplier `alpha`."""
    c = int(32 * alpha)
    layers = _conv_bn(3, c, 3, 2)
    for cout, stride in _BLOCKS:
        cout = int(cout * alpha)
        layers += _conv_bn(c, c, 3, stride, groups=c) + _conv_bn(c, cout, 1, 1)
        c = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)
