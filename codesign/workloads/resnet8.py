"""ResNet-8 of MLPerf Tiny image classification (CIFAR-10, 32x32x3), in PyTorch.

Layer list from the MLPerf Tiny reference (mlcommons/tiny, benchmark/training/image_classification,
keras_model.py): a 3x3 conv stem with 16 filters, three residual stacks of 16, 32 and 64 filters
(the last two stride 2 with a 1x1 projection shortcut), 8x8 average pooling, dense 10.
"""

from torch import Tensor, nn

from codesign.workload.registry import register_workload


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.shortcut = (
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False)
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return self.relu(y + s)


class ResNet8(nn.Module):
    """ResNet-8 (16/32/64 filters) for 32x32x3 inputs, 10 classes."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.stack1 = _Block(16, 16, 1)
        self.stack2 = _Block(16, 32, 2)
        self.stack3 = _Block(32, 64, 2)
        self.pool = nn.AvgPool2d(8)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stack3(self.stack2(self.stack1(self.stem(x))))
        return self.fc(self.flatten(self.pool(x)))


@register_workload(
    "resnet8",
    input_shape=(1, 3, 32, 32),
    description="MLPerf Tiny image classification: ResNet-8 on CIFAR-10 32x32x3",
    dataset="cifar10",
    num_classes=10,
)
def resnet8() -> nn.Module:
    """A fresh ResNet-8."""
    return ResNet8()
