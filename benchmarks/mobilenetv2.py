"""Eight of MobileNetV2's layers (Sandler et al. CVPR 2018, Table 2) at 224x224, as
LayerSpecs, for the mapper benchmarks: the stem, the first two bottlenecks' pointwise and
depthwise layers, and a 3x3 convolution of 64 -> 96 channels at 28x28 (a shape the mapper was
never tuned on). torchvision is not needed."""

from __future__ import annotations

from codesign.core.types import LayerSpec

# name, K, C per group, OY=OX, F, stride, padding, input size, depthwise
MOBILENETV2 = [
    ("mbv2_stem", 32, 3, 112, 3, 2, 1, 224, False),  # conv 3x3 s2, 3 -> 32
    ("mbv2_dw1", 32, 1, 112, 3, 1, 1, 112, True),  # bottleneck 1 (t = 1): depthwise 32
    ("mbv2_pw1", 16, 32, 112, 1, 1, 0, 112, False),  # its projection 32 -> 16
    ("mbv2_pw2", 96, 16, 112, 1, 1, 0, 112, False),  # bottleneck 2 (t = 6): expand 16 -> 96
    ("mbv2_dw2_s2", 96, 1, 56, 3, 2, 1, 112, True),  # depthwise 96, stride 2
    ("mbv2_pw3", 24, 96, 56, 1, 1, 0, 56, False),  # projection 96 -> 24
    ("mbv2_pw4", 144, 24, 56, 1, 1, 0, 56, False),  # bottleneck 3: expand 24 -> 144
    ("conv3x3_64_96", 96, 64, 28, 3, 1, 1, 28, False),  # 3x3, 64 -> 96 at 28x28
]


def mbv2_row(
    name: str, k: int, c: int, o: int, f: int, st: int, p: int, i: int, dw: bool
) -> LayerSpec:
    """One row of the table as a LayerSpec (depthwise: `k` groups of one channel)."""
    return LayerSpec.square_conv(
        name, k, c, out=o, filt=f, stride=st, pad=p, inp=i, groups=k if dw else 1
    )


def layers() -> list[LayerSpec]:
    """The eight layers as LayerSpecs."""
    return [mbv2_row(*row) for row in MOBILENETV2]
