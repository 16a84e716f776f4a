"""Frozen value types shared by every stage: layers, precisions, costs, objectives."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class OpKind(str, enum.Enum):
    """What a node of a `LayerGraph` computes."""

    INPUT = "input"
    CONV = "conv"
    DWCONV = "dwconv"  # depthwise: groups == in channels
    GCONV = "gconv"  # grouped, 1 < groups < in channels
    LINEAR = "linear"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    ADD = "add"
    MUL = "mul"
    CONCAT = "concat"
    RESHAPE = "reshape"  # flatten / view / reshape: no data movement on an MCU
    PAD = "pad"

    @property
    def has_weights(self) -> bool:
        """True for the kinds whose weights are quantized and packed (conv, linear)."""
        return self in _WEIGHTED


_WEIGHTED = frozenset({OpKind.CONV, OpKind.DWCONV, OpKind.GCONV, OpKind.LINEAR})

# Kinds without weights that cost models price per element operation (`LayerSpec.ops`), and
# kinds that are views or address arithmetic and cost nothing. A cost model refuses any other
# kind rather than pricing it at zero silently.
ELEMENTWISE_KINDS = frozenset({OpKind.MAXPOOL, OpKind.AVGPOOL, OpKind.ADD, OpKind.MUL})
FREE_KINDS = frozenset({OpKind.INPUT, OpKind.RESHAPE, OpKind.PAD, OpKind.CONCAT})


@dataclass(frozen=True)
class LayerSpec:
    """One node of the layer graph, in the loop-nest notation of Timeloop / ZigZag.

    Loop bounds: N batch, K output channels, C input channels *per group*, OY/OX output rows /
    columns, FY/FX filter rows / columns. For a linear layer OY = OX = FY = FX = 1 and N counts
    every leading dimension of the input. Pooling and elementwise layers use K = C = channels.
    `macs` counts multiply-accumulates for conv / linear and elementwise operations (one per
    output element and per window element for pooling) for the other kinds, in `ops`.
    """

    name: str
    kind: OpKind
    N: int = 1
    K: int = 1
    C: int = 1
    OY: int = 1
    OX: int = 1
    FY: int = 1
    FX: int = 1
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    input_shape: tuple[int, ...] = ()
    output_shape: tuple[int, ...] = ()
    has_bias: bool = False
    source: str = ""  # the torch module path or function that produced this node
    fused: tuple[str, ...] = ()  # module paths folded into this layer (batch-norm, activation)

    @classmethod
    def square_conv(
        cls, name: str, K: int, C: int, out: int, filt: int, stride: int, pad: int, inp: int
    ) -> LayerSpec:
        """A convolution of one image with square maps, filter, stride and padding: `inp` x
        `inp` input, `out` x `out` output."""
        return cls(
            name,
            OpKind.CONV,
            K=K,
            C=C,
            OY=out,
            OX=out,
            FY=filt,
            FX=filt,
            stride=(stride, stride),
            padding=(pad, pad),
            input_shape=(1, C, inp, inp),
            output_shape=(1, K, out, out),
        )

    @property
    def weight_count(self) -> int:
        """Number of weights (bias excluded); 0 for kinds without weights."""
        if not self.kind.has_weights:
            return 0
        return self.K * self.C * self.FY * self.FX

    @property
    def weights_per_channel(self) -> int:
        """Weights feeding one output channel (C * FY * FX); 0 for kinds without weights."""
        return self.C * self.FY * self.FX if self.kind.has_weights else 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates per inference for conv / linear; 0 for the other kinds."""
        if not self.kind.has_weights:
            return 0
        return self.N * self.K * self.OY * self.OX * self.C * self.FY * self.FX

    @property
    def ops(self) -> int:
        """Elementwise operations per inference for the kinds without weights (pool, add, ...)."""
        if self.kind.has_weights:
            return 0
        if self.kind in (OpKind.MAXPOOL, OpKind.AVGPOOL):
            return self.N * self.K * self.OY * self.OX * self.FY * self.FX
        if self.kind in (OpKind.ADD, OpKind.MUL):
            return math.prod(self.output_shape)
        return 0

    @property
    def input_elems(self) -> int:
        """Elements of the (first) input activation tensor."""
        return math.prod(self.input_shape) if self.input_shape else 0

    @property
    def output_elems(self) -> int:
        """Elements of the output activation tensor."""
        return math.prod(self.output_shape) if self.output_shape else 0


@dataclass(frozen=True)
class Precision:
    """Bit-widths of one layer: activation bits of its input, weight bits per output channel.

    `weight_bits` holds one entry per output channel; 0 means the channel is pruned.
    """

    act_bits: int
    weight_bits: tuple[int, ...]

    @classmethod
    def uniform(cls, act_bits: int, weight_bits: int, channels: int) -> Precision:
        """The precision with every one of `channels` output channels at `weight_bits`."""
        return cls(act_bits, (weight_bits,) * channels)


class Objective(str, enum.Enum):
    """What a search minimises."""

    ACCURACY_LOSS = "accuracy_loss"  # percentage points below the full-precision model
    LATENCY = "latency"  # milliseconds per inference
    ENERGY = "energy"  # microjoules per inference
    MEMORY = "memory"  # peak bytes resident (weights + live activations)

    @property
    def unit(self) -> str:
        """Display unit of this objective's values."""
        return _UNITS[self]


_UNITS = {
    Objective.ACCURACY_LOSS: "pp",
    Objective.LATENCY: "ms",
    Objective.ENERGY: "uJ",
    Objective.MEMORY: "kB",
}


@dataclass(frozen=True)
class Cost:
    """Cost of one layer (or a whole network) at one precision, on one hardware model."""

    cycles: float
    latency_s: float
    energy_j: float
    weight_bytes: float
    act_bytes: float  # input + output activations of this layer, at their bit-widths
    extra: dict[str, float] = field(default_factory=dict, compare=False)
