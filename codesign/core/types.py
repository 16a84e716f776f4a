"""Frozen value types shared by every stage: layers, precisions, costs, objectives."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from codesign.core.ops import OpKind, Pricing  # OpKind: re-exported, its home is core.ops


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
    mode: str = ""  # upsampling: "nearest" or "bilinear"

    @classmethod
    def square_conv(
        cls,
        name: str,
        K: int,
        C: int,
        *,
        out: int,
        filt: int,
        stride: int,
        pad: int,
        inp: int,
        groups: int = 1,
    ) -> LayerSpec:
        """A convolution of one image with square maps, filter, stride and padding: `inp` x
        `inp` input, `out` x `out` output, `C` input channels per group; depthwise when each of
        `groups` > 1 groups has one input and one output channel, grouped otherwise."""
        if groups == 1:
            kind = OpKind.CONV
        elif C == 1 and K == groups:
            kind = OpKind.DWCONV
        else:
            kind = OpKind.GCONV
        return cls(
            name,
            kind,
            K=K,
            C=C,
            OY=out,
            OX=out,
            FY=filt,
            FX=filt,
            stride=(stride, stride),
            padding=(pad, pad),
            groups=groups,
            input_shape=(1, C * groups, inp, inp),
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
        """Multiply-accumulates per inference for conv / linear / matmul; 0 for the other
        kinds."""
        if not self.kind.quantized:
            return 0
        if self.kind.traits.nest.scatters:  # each input pixel scatters into a window
            iy, ix = self.tconv_input_hw
            return self.N * self.K * self.C * self.FY * self.FX * iy * ix
        return self.N * self.K * self.OY * self.OX * self.C * self.FY * self.FX

    @property
    def tconv_input_hw(self) -> tuple[int, int]:
        """(rows, columns) of a transposed convolution's input (one row for 1-D)."""
        shape = self.input_shape
        if len(shape) == 4:
            return int(shape[2]), int(shape[3])
        return 1, int(shape[-1]) if shape else 1

    @property
    def ops(self) -> int:
        """Elementwise operations per inference for the kinds without weights (pool, add, ...)."""
        t = self.kind.traits
        if t.pricing is not Pricing.PER_ELEMENT:
            return 0
        if t.per_window:  # one per output element and per window element (pooling)
            return self.N * self.K * self.OY * self.OX * self.FY * self.FX * t.ops_per_element
        return math.prod(self.output_shape) * t.ops_for(self.mode)

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

    @property
    def weight_summary(self) -> str:
        """'8' when every channel has 8 bits, else the channel count at each bit-width, e.g.
        '0x3 2x5 8x24' (3 channels pruned, 5 at 2 bits, 24 at 8 bits)."""
        counts: dict[int, int] = {}
        for b in self.weight_bits:
            counts[b] = counts.get(b, 0) + 1
        if len(counts) == 1:
            return str(self.weight_bits[0])
        return " ".join(f"{b}x{n}" for b, n in sorted(counts.items()))

    @property
    def label(self) -> str:
        """Short label: 'w8a4', or 'w[0x3 2x5 8x24]a4' with per-channel weight bits."""
        w = self.weight_summary
        return f"w{w}a{self.act_bits}" if " " not in w else f"w[{w}]a{self.act_bits}"


class Objective(str, enum.Enum):
    """What a search minimises."""

    ACCURACY_LOSS = "accuracy_loss"  # percentage points below the full-precision model
    LATENCY = "latency"  # milliseconds per inference
    ENERGY = "energy"  # microjoules per inference
    MEMORY = "memory"  # peak bytes resident (weights + live activations)
    AREA = "area"  # mm^2 of the hardware point's modelled compute and memories (--hw-space)

    @property
    def unit(self) -> str:
        """Display unit of this objective's values."""
        return _UNITS[self]


_UNITS = {
    Objective.ACCURACY_LOSS: "pp",
    Objective.LATENCY: "ms",
    Objective.ENERGY: "uJ",
    Objective.MEMORY: "kB",
    Objective.AREA: "mm2",
}


@dataclass(frozen=True)
class MappingDescription:
    """How one layer runs on the hardware, in words a user or a trainer can act on.

    `kind` names the family of mapping ("mcu-kernel": a fixed library kernel tiled into L1;
    "spatial": a spatial accelerator's dataflow, unrolling, tiling, loop order and bypass).
    `choice` is the kept mapping the search picked ("" where the hardware offers no choice);
    `details` holds the family's fields as plain JSON values (see `cost/README.md`).
    """

    kind: str
    choice: str = ""
    utilization: float | None = None  # fraction of the peak MACs per cycle actually used
    details: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str, default: Any = None) -> Any:
        """One field of `details`."""
        return dict(self.details).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: kind, choice, utilization and every detail field at the top level."""
        out: dict[str, Any] = {"kind": self.kind, **dict(self.details)}
        if self.choice:
            out["choice"] = self.choice
        if self.utilization is not None:
            out["utilization"] = self.utilization
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MappingDescription:
        """The inverse of `to_dict`."""
        rest = {k: v for k, v in d.items() if k not in ("kind", "choice", "utilization")}
        return cls(d["kind"], d.get("choice", ""), d.get("utilization"), tuple(rest.items()))


@dataclass(frozen=True)
class LayerCost:
    """Cost of one layer at one precision (and mapping), on one hardware model.

    Units: `cycles` clock cycles, `latency_s` seconds, `energy_j` joules, `weight_bytes` packed
    weights + per-channel parameters, `act_bytes` input + output activations at their bits.
    `mapping` says how the layer runs (None for layers without weights).
    """

    cycles: float
    latency_s: float
    energy_j: float
    weight_bytes: float
    act_bytes: float
    mapping: MappingDescription | None = field(default=None, compare=False)


@dataclass(frozen=True)
class NetworkCost:
    """Exact cost of one network configuration: per-layer `LayerCost` and network totals.

    `peak_bytes` = `weight_bytes` + `peak_act_bytes` is checked against the hardware's memory
    limit (`fits`). Units as in `LayerCost`.
    """

    layers: dict[str, LayerCost]
    cycles: float
    latency_s: float
    energy_j: float
    weight_bytes: float
    peak_act_bytes: float
    memory_limit_bytes: float

    @property
    def peak_bytes(self) -> float:
        """Weights plus peak live activations, in bytes."""
        return self.weight_bytes + self.peak_act_bytes

    @property
    def fits(self) -> bool:
        """True when the peak memory fits the hardware's memory limit."""
        return self.peak_bytes <= self.memory_limit_bytes


@dataclass(frozen=True)
class Configuration:
    """One network configuration: a `Precision` per quantizable layer and, where the hardware
    offers a choice, the index of the kept mapping each layer runs (absent: mapping 0)."""

    precisions: Mapping[str, Precision]
    mapping: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def over(
        cls,
        layers: Sequence[str],
        precisions: Sequence[Precision],
        mapping: Sequence[int] | None = None,
    ) -> Configuration:
        """The configuration giving `layers` their `precisions` (and kept `mapping`), in order."""
        return cls(
            dict(zip(layers, precisions)), {} if mapping is None else dict(zip(layers, mapping))
        )

    @classmethod
    def of(cls, value: Configuration | Mapping[str, Precision]) -> Configuration:
        """`value` itself, or a plain layer -> `Precision` mapping wrapped with no mapping."""
        return value if isinstance(value, Configuration) else cls(dict(value))


@dataclass(frozen=True)
class MapperSettings:
    """How hard the mapper searches each layer's mapspace (spatial accelerators).

    `samples` random mappings per layer, drawn with `seed`; `refine_rounds` rounds of local
    search from the `refine_top` best mappings of each precision and objective.
    `group_unrolling`: a depthwise layer unrolls its channel (group) dimension where a
    dataflow unrolls input channels, which it has none of (off: the mapspace before issue 16).
    `other_unrollings`: the share of each dataflow's samples drawn on unrollings other than
    its greedy fill of the array: its exact fill and `partial_unrollings` random sub-array
    ones; with it, the beam also moves loop factors into and out of the array (0 and 0: the
    mapspace before, where a dataflow always filled the array).
    """

    samples: int = 1000
    seed: int = 0
    refine_rounds: int = 3
    refine_top: int = 4
    group_unrolling: bool = True
    other_unrollings: float = 0.5
    partial_unrollings: int = 4
