"""ResNet-18's distinct convolutions (He et al. 2016, Table 1) at 224x224, as LayerSpecs, for
the benchmarks (torchvision is not needed)."""

from __future__ import annotations

from codesign.core.types import LayerSpec

# ResNet-18 (He et al. 2016, Table 1) distinct convolutions at 224x224:
# name, K, C, OY=OX, F, stride, padding, input size
RESNET18 = [
    ("conv1", 64, 3, 112, 7, 2, 3, 224),
    ("conv2_x", 64, 64, 56, 3, 1, 1, 56),
    ("conv3_1", 128, 64, 28, 3, 2, 1, 56),
    ("conv3_x", 128, 128, 28, 3, 1, 1, 28),
    ("conv3_ds", 128, 64, 28, 1, 2, 0, 56),
    ("conv4_1", 256, 128, 14, 3, 2, 1, 28),
    ("conv4_x", 256, 256, 14, 3, 1, 1, 14),
    ("conv4_ds", 256, 128, 14, 1, 2, 0, 28),
    ("conv5_1", 512, 256, 7, 3, 2, 1, 14),
    ("conv5_x", 512, 512, 7, 3, 1, 1, 7),
    ("conv5_ds", 512, 256, 7, 1, 2, 0, 14),
]


def conv_row(name: str, k: int, c: int, o: int, f: int, st: int, p: int, i: int) -> LayerSpec:
    """One row of the table as a LayerSpec."""
    return LayerSpec.square_conv(name, k, c, out=o, filt=f, stride=st, pad=p, inp=i)


def layers() -> list[LayerSpec]:
    """ResNet-18's distinct convolutions as LayerSpecs."""
    return [conv_row(*row) for row in RESNET18]
