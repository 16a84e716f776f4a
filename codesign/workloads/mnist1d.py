"""A 1-D temporal CNN for MNIST-1D, shaped like the keyword-spotting CNNs run on MCUs."""

from torch import nn

from codesign.workload.registry import register_workload


@register_workload(
    "mnist1d_cnn",
    description="5-layer 1-D CNN for MNIST-1D (the default; data generated locally by the "
    "mnist1d package)",
    input_shape=(1, 1, 40),
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


@register_workload(
    "mnist1d_dscnn",
    description="1-D DS-CNN for MNIST-1D, 64-128 channels, 59 k weights (channels to redistribute)",
    input_shape=(1, 1, 40),
    dataset="mnist1d",
    num_classes=10,
)
def mnist1d_dscnn() -> nn.Module:
    """MLPerf Tiny's DS-CNN shape in 1-D: conv5(64), then four depthwise-separable blocks
    (3-tap depthwise, 1x1 pointwise) widening 64 -> 96 -> 128 -> 128 -> 128 while the signal
    goes 40 -> 20 -> 10 -> 10 -> 5, then linear(10) on the flattened 128x5 map (MNIST-1D's
    classes depend on where a pattern sits, so the map is not averaged away). 59,168 weights,
    523 k MACs: ten to a hundred times the channels per layer of `mnist1d_cnn`'s 32."""

    def bn_relu(c: int) -> list[nn.Module]:
        return [nn.BatchNorm1d(c), nn.ReLU()]

    layers: list[nn.Module] = [nn.Conv1d(1, 64, 5, padding=2, bias=False), *bn_relu(64)]
    for cin, cout, stride in ((64, 96, 2), (96, 128, 2), (128, 128, 1), (128, 128, 2)):
        layers += [
            nn.Conv1d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False),
            *bn_relu(cin),
            nn.Conv1d(cin, cout, 1, bias=False),
            *bn_relu(cout),
        ]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * 5, 10))
