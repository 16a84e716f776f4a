"""A small CNN for scikit-learn's 8x8 digits: the default workload, data on every machine."""

from torch import nn

from codesign.workload.registry import register_workload


@register_workload(
    "digits_cnn",
    input_shape=(1, 1, 8, 8),
    description="4-layer CNN for sklearn's 8x8 digits (data ships with scikit-learn)",
    dataset="digits",
    num_classes=10,
)
def digits_cnn() -> nn.Module:
    """conv3x3(16) -> conv3x3/2(32) -> depthwise3x3 + pointwise(32) -> linear(10) on 1x8x8."""

    def block(cin: int, cout: int, stride: int = 1, groups: int = 1, k: int = 3) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        ]

    return nn.Sequential(
        *block(1, 16),  # 8x8
        *block(16, 32, stride=2),  # 4x4
        *block(32, 32, groups=32),  # depthwise 4x4
        *block(32, 32, k=1),  # pointwise
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )
