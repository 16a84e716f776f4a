"""Full-size ImageNet networks at 224x224x3, 1000 classes, defined here (no torchvision, no
downloads): ResNet-18 and ResNet-50 (He et al. 2016, Table 1) and MobileNetV2 1.0x (Sandler et
al. 2018, Table 2). There is no ImageNet on these machines, so they explore on cost objectives
(or with the user's own data and weights: `--data`, `--weights`).

ResNet-50 puts the stride of a down-sampling bottleneck on its 3x3 convolution (the "v1.5"
variant most frameworks ship: 4.1 G MACs, against 3.9 G with the stride on the first 1x1).
"""

from __future__ import annotations

from torch import Tensor, nn

from codesign.workload.registry import register_workload

IMAGENET = (1, 3, 224, 224)


def _cbr(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True) -> list:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=False))
    return layers


class _Residual(nn.Module):
    """body(x) + shortcut(x), then ReLU (ResNet) or nothing (MobileNetV2)."""

    def __init__(self, body: list, shortcut: list | None, relu: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(*shortcut) if shortcut else nn.Identity()
        self.relu = nn.ReLU() if relu else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """The block's output."""
        return self.relu(self.body(x) + self.shortcut(x))


def _resnet(blocks: list[int], bottleneck: bool, num_classes: int) -> nn.Module:
    expansion = 4 if bottleneck else 1
    layers: list[nn.Module] = [*_cbr(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for stage, n in enumerate(blocks):
        width = 64 * 2**stage
        for i in range(n):
            stride = 2 if i == 0 and stage > 0 else 1
            cout = width * expansion
            if bottleneck:
                body = (
                    _cbr(cin, width, 1)
                    + _cbr(width, width, 3, stride)
                    + _cbr(width, cout, 1, act=False)
                )
            else:
                body = _cbr(cin, width, 3, stride) + _cbr(width, width, 3, act=False)
            short = _cbr(cin, cout, 1, stride, act=False) if stride != 1 or cin != cout else None
            layers.append(_Residual(body, short, relu=True))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


@register_workload(
    "resnet18",
    input_shape=IMAGENET,
    description="ResNet-18 (He et al. 2016) on 224x224x3, 1000 classes",
    num_classes=1000,
)
def resnet18(num_classes: int = 1000) -> nn.Module:
    """A fresh ResNet-18: basic blocks [2, 2, 2, 2]."""
    return _resnet([2, 2, 2, 2], bottleneck=False, num_classes=num_classes)


@register_workload(
    "resnet50",
    input_shape=IMAGENET,
    description="ResNet-50 (He et al. 2016, v1.5 strides) on 224x224x3, 1000 classes",
    num_classes=1000,
)
def resnet50(num_classes: int = 1000) -> nn.Module:
    """A fresh ResNet-50: bottleneck blocks [3, 4, 6, 3], expansion 4."""
    return _resnet([3, 4, 6, 3], bottleneck=True, num_classes=num_classes)


# (expansion t, output channels c, repeats n, first stride s), Sandler et al. 2018, Table 2
_MBV2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
         (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip


def _relu6(layers: list) -> list:
    return [nn.ReLU6() if isinstance(m, nn.ReLU) else m for m in layers]


@register_workload(
    "mobilenet_v2",
    input_shape=IMAGENET,
    description="MobileNetV2 1.0x (Sandler et al. 2018) on 224x224x3, 1000 classes",
    num_classes=1000,
)
def mobilenet_v2(num_classes: int = 1000) -> nn.Module:
    """A fresh MobileNetV2 1.0x: inverted residual blocks with linear bottlenecks."""
    layers: list[nn.Module] = _relu6(_cbr(3, 32, 3, 2))
    cin = 32
    for t, c, n, s in _MBV2:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            body = [] if t == 1 else _relu6(_cbr(cin, hidden, 1))
            body += _relu6(_cbr(hidden, hidden, 3, stride, groups=hidden))
            body += _cbr(hidden, c, 1, act=False)
            if stride == 1 and cin == c:
                layers.append(_Residual(body, None, relu=False))
            else:
                layers.append(nn.Sequential(*body))
            cin = c
    layers += _relu6(_cbr(cin, 1280, 1))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, num_classes)]
    return nn.Sequential(*layers)
