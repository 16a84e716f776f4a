"""A 1-D temporal CNN for MNIST-1D, shaped like the keyword-spotting CNNs run on MCUs."""

from torch import nn

from codesign.workload.registry import register_workload


@register_workload(
    "mnist1d_cnn",
    input_shape=(1, 1, 40),
    description="5-layer 1-D CNN for MNIST-1D (the default; data generated locally by the "
    "mnist1d package)",
    dataset="mnist1d",
    num_classes=10,
)
def mnist1d_cnn() -> nn.Module:
    """conv5(32) -> 3 x conv3/2(32) -> linear(10) on a 1x40 signal (40 -> 20 -> 10 -> 5)."""

    def block(cin: int, cout: int, k: int, stride: int) -> list[nn.Module]:
        return [
            nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
            nn.BatchNorm1d(cout),
            nn.ReLU(),
        ]

    return nn.Sequential(
        *block(1, 32, 5, 1),
        *block(32, 32, 3, 2),
        *block(32, 32, 3, 2),
        *block(32, 32, 3, 2),
        nn.Flatten(),
        nn.Linear(32 * 5, 10),
    )
