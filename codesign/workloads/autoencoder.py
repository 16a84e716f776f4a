"""The fully connected autoencoder of MLPerf Tiny anomaly detection (ToyADMOS, 640 inputs).

From the MLPerf Tiny reference (mlcommons/tiny, benchmark/training/anomaly_detection,
keras_model.py): dense 640-128-128-128-128-8-128-128-128-128-640, batch-norm and ReLU after
every hidden layer.
"""

from torch import nn

from codesign.workload.registry import register_workload


@register_workload(
    "autoencoder",
    input_shape=(1, 640),
    description="MLPerf Tiny anomaly detection: FC autoencoder 640-128x4-8-128x4-640",
)
def autoencoder(inputs: int = 640, hidden: int = 128, bottleneck: int = 8) -> nn.Module:
    """A fresh autoencoder."""
    widths = [inputs] + [hidden] * 4 + [bottleneck] + [hidden] * 4
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
    layers.append(nn.Linear(hidden, inputs))
    return nn.Sequential(*layers)
