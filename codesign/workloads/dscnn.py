"""DS-CNN of MLPerf Tiny keyword spotting (49x10 MFCC, 12 classes), in PyTorch.

From the MLPerf Tiny reference (mlcommons/tiny, benchmark/training/keyword_spotting,
keras_model.py, DS-CNN small): a 10x4 stride-2 conv with 64 filters, four depthwise-separable
blocks (3x3 depthwise + 1x1 pointwise, 64 channels), average pooling over the 25x5 map, dense 12.
Keras pads the stem 'same' (4 rows above, 5 below); PyTorch's symmetric padding=(5, 1) gives
the same 25x5 output and the same MAC count.
"""

from torch import nn

from codesign.workload.registry import register_workload


def _bn_relu(c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c), nn.ReLU()]


@register_workload(
    "dscnn",
    input_shape=(1, 1, 49, 10),
    description="MLPerf Tiny keyword spotting: DS-CNN on 49x10 MFCC, 12 classes",
    dataset="speech_commands",
    num_classes=12,
)
def dscnn(num_classes: int = 12, channels: int = 64) -> nn.Module:
    """A fresh DS-CNN (64 channels, 4 depthwise-separable blocks)."""
    layers: list[nn.Module] = [
        nn.Conv2d(1, channels, (10, 4), stride=2, padding=(5, 1), bias=False),
        *_bn_relu(channels),
    ]
    for _ in range(4):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
            *_bn_relu(channels),
            nn.Conv2d(channels, channels, 1, bias=False),
            *_bn_relu(channels),
        ]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)
