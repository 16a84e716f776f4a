"""The MCU family: RISC-V cores such as MPIC, described by a MACs-per-cycle table. This file owns
all of it: the YAML schema, the frozen `McuHardware`, the cost model, how a layer's kernel is
described, and the default objectives.

The cost model follows Risso et al. 2022: a layer whose output channels carry different
weight bit-widths runs as one kernel call per bit-width, so its cycles are the sum over
channels of
``MACs per channel / MACs-per-cycle(activation bits, that channel's weight bits)``. A pruned
(0-bit) channel costs no cycles and no memory, and is removed from every layer that reads it,
through residual adds, concatenations, depthwise and grouped convs (`codesign.cost.channels`):
readers' MACs and weights shrink, pooling and adds run over fewer channels, activation tensors
hold fewer channels. Energy is average power x latency. Memory counts packed weights
(a 4-bit weight takes half a byte) plus a 32-bit bias and a 32-bit requantisation scale per
kept output channel (integer-only inference, Jacob et al. CVPR 2018), and the activation
tensors alive at each step, each stored at the widest activation bit-width of its readers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt, model_validator

from codesign.core.errors import ConfigError
from codesign.core.ops import Pricing
from codesign.core.types import (
    Configuration,
    LayerCost,
    LayerSpec,
    MapperSettings,
    MappingDescription,
    NetworkCost,
    Objective,
    Precision,
)
from codesign.cost.channels import live_sets, plan_of
from codesign.cost.tables import (
    CHANNEL_PARAM_BITS,
    CostTables,
    activation_storage,
    channel_fields,
    check_tied,
    memory_fields,
)
from codesign.hw.family import HardwareFamily, register_family
from codesign.hw.schema import (
    BitsSchema,
    HardwareSchema,
    PerCycle,
    PowerMw,
    StrictModel,
    check_bit_table,
)
from codesign.workload.graph import LayerGraph

# ---- the hardware file -------------------------------------------------------------------


class McuMemorySchema(StrictModel):
    """On-chip memories of an MCU, in bytes."""

    l1_bytes: PositiveInt = Field(description="L1 (tightly coupled) memory in bytes: kernel tiles")
    l2_bytes: PositiveInt = Field(
        description="L2 memory in bytes: weights plus live activations must fit (the constraint)"
    )


class McuSchema(HardwareSchema):
    """An MCU / RISC-V core whose throughput depends on the (activation, weight) bit-widths."""

    family: Literal["mcu"] = Field(description="this schema: an MCU / RISC-V core")
    power_mw: PowerMw = Field(  # type: ignore[valid-type]
        description="average power while running kernels, mW"
    )
    memory: McuMemorySchema
    bits: BitsSchema
    macs_per_cycle: dict[int, dict[int, PerCycle]] = Field(  # type: ignore[valid-type]
        description="activation bits -> weight bits -> MACs per cycle (every supported pair)"
    )
    other_ops_per_cycle: PerCycle = Field(  # type: ignore[valid-type]
        description="pooling / elementwise / normalisation operations per cycle"
    )

    @model_validator(mode="after")
    def _table_covers_bits(self) -> McuSchema:
        check_bit_table("macs_per_cycle", self.macs_per_cycle, self.bits)
        return self


# ---- the domain object -------------------------------------------------------------------


@dataclass(frozen=True)
class McuHardware:
    """An MCU core (e.g. MPIC) priced by a MACs-per-cycle table over (activation, weight) bits.

    `macs_per_cycle[i][j]` is the throughput at `act_bits[i]` x `weight_bits[j]`; a weight
    bit-width of 0 (pruned channel) has no entry: it costs no cycles and no memory.
    """

    name: str
    clock_hz: float
    power_w: float
    l1_bytes: int
    l2_bytes: int
    act_bits: tuple[int, ...]
    weight_bits: tuple[int, ...]
    macs_per_cycle: tuple[tuple[float, ...], ...]  # [act index][weight index], 0 where w == 0
    other_ops_per_cycle: float
    source: str = ""  # the YAML path it was loaded from
    description: str = ""

    family = "mcu"

    def cycles_per_mac(self) -> np.ndarray:
        """Array [len(act_bits), len(weight_bits)] of cycles per MAC; 0 where weight bits are 0."""
        t = np.asarray(self.macs_per_cycle, dtype=np.float64)
        out = np.zeros_like(t)
        nz = t > 0
        out[nz] = 1.0 / t[nz]
        return out

    def throughput(self, act_bits: int, weight_bits: int) -> float:
        """MACs per cycle at this precision pair (inf for a pruned, 0-bit, channel)."""
        if weight_bits == 0:
            return float("inf")
        i = self.act_bits.index(act_bits)
        j = self.weight_bits.index(weight_bits)
        return self.macs_per_cycle[i][j]

    @property
    def psum_bits(self) -> int:
        """Width of a partial sum: the core accumulates in its 32-bit registers."""
        return 32


# ---- the cost model ----------------------------------------------------------------------

# the pricings this model knows (`OpTraits.pricing`): MACs through the MACs-per-cycle table,
# element operations at `other_ops_per_cycle`, views free
_PRICED = frozenset({Pricing.MAC, Pricing.PER_ELEMENT, Pricing.FREE})


def _check_priceable(graph: LayerGraph) -> None:
    for spec in graph.layers:
        if spec.kind.traits.pricing not in _PRICED:
            raise ConfigError(
                f"layer '{spec.name}' ({spec.kind.value}): the MCU cost model cannot price it"
            )


def _fixed_cycles(spec: LayerSpec, hw: McuHardware) -> float:
    if spec.kind.traits.pricing is Pricing.PER_ELEMENT:
        return spec.ops / hw.other_ops_per_cycle
    return 0.0


def build_tables(graph: LayerGraph, hw: McuHardware) -> CostTables:
    """Price every quantizable layer of `graph` at every (activation, weight) bit pair of `hw`.

    Returns `CostTables` whose weight bit-widths exclude 0 (a whole layer cannot be pruned);
    they score per-channel bits with pruning too (`CostTables.score_channels`), equal to
    `price_network`.
    """
    _check_priceable(graph)
    check_tied(graph, hw)
    q = graph.quantizable
    w_search = tuple(w for w in hw.weight_bits if w > 0)
    w_cols = [hw.weight_bits.index(w) for w in w_search]
    cpm = hw.cycles_per_mac()[:, w_cols]  # [A, W]
    macs = np.array([s.macs for s in q], dtype=np.float64)
    cycles = (macs[:, None, None] * cpm[None, :, :])[..., None]
    fixed = sum(_fixed_cycles(s, hw) for s in graph.layers)
    return CostTables(
        layer_names=tuple(s.name for s in q),
        act_bits=hw.act_bits,
        weight_bits=w_search,
        cycles=cycles,
        energy_j=cycles / hw.clock_hz * hw.power_w,
        fixed_cycles=float(fixed),
        fixed_energy_j=float(fixed) / hw.clock_hz * hw.power_w,
        clock_hz=hw.clock_hz,
        memory_limit_bytes=float(hw.l2_bytes),
        **memory_fields(graph, hw.act_bits, w_search),
        **channel_fields(
            graph,
            {s.name: _fixed_cycles(s, hw) for s in graph.layers},
            hw.power_w / hw.clock_hz,
            can_prune=0 in hw.weight_bits,
        ),
    )


def validate_assignment(
    graph: LayerGraph, hw: McuHardware, assignment: Mapping[str, Precision]
) -> None:
    """Raise `ConfigError` unless every quantizable layer has a precision `hw` supports."""
    names = {s.name for s in graph.quantizable}
    for extra in set(assignment) - names:
        raise ConfigError(f"layer '{extra}': not a quantizable layer of {graph.name}")
    for spec in graph.quantizable:
        if spec.name not in assignment:
            raise ConfigError(f"layer '{spec.name}': no precision given")
        p = assignment[spec.name]
        if p.act_bits not in hw.act_bits:
            raise ConfigError(
                f"layer '{spec.name}': activation bits {p.act_bits} not supported by {hw.name} "
                f"(supported: {list(hw.act_bits)})"
            )
        if len(p.weight_bits) != spec.K:
            raise ConfigError(
                f"layer '{spec.name}': {len(p.weight_bits)} weight bit-widths for {spec.K} channels"
            )
        bad = sorted({w for w in p.weight_bits if w not in hw.weight_bits})
        if bad:
            raise ConfigError(
                f"layer '{spec.name}': weight bits {bad} not supported by {hw.name} "
                f"(supported: {list(hw.weight_bits)})"
            )
        if all(w == 0 for w in p.weight_bits):
            raise ConfigError(f"layer '{spec.name}': every channel pruned; the network is cut")
        if not spec.kind.has_weights and set(p.weight_bits) != {p.act_bits}:
            raise ConfigError(
                f"layer '{spec.name}' multiplies two activations: its second operand takes "
                f"the activation bits ({p.act_bits}), not {sorted(set(p.weight_bits))}"
            )


KERNEL = "mixed-precision SIMD conv/linear, one call per weight bit-width"


def price_network(
    graph: LayerGraph, hw: McuHardware, configuration: Configuration | Mapping[str, Precision]
) -> NetworkCost:
    """Exact cost of one configuration with per-channel weight bits (0 = pruned channel).

    Returns a `NetworkCost` with a `LayerCost` per layer (cycles, seconds, joules, weight
    bytes, activation bytes of its input + output, and for conv / linear layers a
    `MappingDescription` of the kernel with `l1_tiles`: how many L1-sized pieces its working
    set needs) and the network totals. A mapping choice in `configuration` is ignored: an
    MCU core runs one fixed kernel per layer.
    """
    assignment = Configuration.of(configuration).precisions
    _check_priceable(graph)
    validate_assignment(graph, hw, assignment)
    kept, in_frac, alive = live_sets(
        plan_of(graph),
        {n: {k for k, b in enumerate(p.weight_bits) if b > 0} for n, p in assignment.items()},
        {s.name: s.K for s in graph.quantizable},
    )
    for name, k in kept.items():
        if not k:
            raise ConfigError(
                f"layer '{name}': pruning upstream leaves it no channel; the network is cut"
            )
    tbits, peak_act = activation_storage(
        graph, {n: p.act_bits for n, p in assignment.items()}, max(hw.act_bits), alive
    )

    layers: dict[str, LayerCost] = {}
    total_cycles = 0.0
    weight_total = 0.0
    for spec in graph.layers:
        out_bytes = spec.output_elems * tbits[spec.name] * alive[spec.name] / 8.0
        in_bytes = sum(
            graph[p].output_elems * tbits[p] * alive[p] / 8.0 for p in graph.producers(spec.name)
        )
        if spec.kind.quantized:
            p = assignment[spec.name]
            cycles = 0.0
            wbytes = 0.0
            for k in sorted(kept[spec.name]):
                frac = in_frac[spec.name][k]
                cycles += spec.macs / spec.K * frac / hw.throughput(p.act_bits, p.weight_bits[k])
                if spec.kind.has_weights:
                    wbytes += (
                        spec.weights_per_channel * frac * p.weight_bits[k] + CHANNEL_PARAM_BITS
                    ) / 8.0
        else:
            cycles = _fixed_cycles(spec, hw) * alive[spec.name]
            wbytes = 0.0
        total_cycles += cycles
        weight_total += wbytes
        working = in_bytes + out_bytes + wbytes
        kernel = None
        if spec.kind.quantized:
            tiles = max(1, math.ceil(working / hw.l1_bytes))
            kernel = MappingDescription(
                "mcu-kernel", details=(("kernel", KERNEL), ("l1_tiles", tiles))
            )
        layers[spec.name] = LayerCost(
            cycles=cycles,
            latency_s=cycles / hw.clock_hz,
            energy_j=cycles / hw.clock_hz * hw.power_w,
            weight_bytes=wbytes,
            act_bytes=in_bytes + out_bytes,
            mapping=kernel,
        )
    latency = total_cycles / hw.clock_hz
    return NetworkCost(
        layers=layers,
        cycles=total_cycles,
        latency_s=latency,
        energy_j=latency * hw.power_w,
        weight_bytes=weight_total,
        peak_act_bytes=peak_act,
        memory_limit_bytes=float(hw.l2_bytes),
    )


# ---- the family ---------------------------------------------------------------------------


def build(s: McuSchema, path: Path) -> McuHardware:
    """The frozen `McuHardware` of a validated file."""
    act = tuple(s.bits.activation)
    wts = tuple(s.bits.weight)
    table = tuple(tuple(0.0 if w == 0 else float(s.macs_per_cycle[a][w]) for w in wts) for a in act)
    return McuHardware(
        name=s.name,
        clock_hz=s.clock_hz,
        power_w=s.power_mw * 1e-3,
        l1_bytes=s.memory.l1_bytes,
        l2_bytes=s.memory.l2_bytes,
        act_bits=act,
        weight_bits=wts,
        macs_per_cycle=table,
        other_ops_per_cycle=s.other_ops_per_cycle,
        source=str(path),
        description=s.description,
    )


class McuCostModel:
    """Cycles from the MACs-per-cycle table, energy = power x time, memory = packed weights
    plus live activations (`build_tables`, `price_network` above). One fixed kernel per
    layer: no mapping choice, so the search has no mapping gene."""

    def build_tables(self, graph: LayerGraph, hw: McuHardware) -> CostTables:
        """Every quantizable layer at every (activation, weight) bit pair."""
        return build_tables(graph, hw)

    def price(
        self,
        graph: LayerGraph,
        hw: McuHardware,
        configuration: Configuration | Mapping[str, Precision],
    ) -> NetworkCost:
        """Exact cost with per-channel weight bits (0 = pruned channel)."""
        return price_network(graph, hw, configuration)


def describe(layer_cost: LayerCost) -> str:
    """'3 L1 tiles'-style summary of how the kernel runs the layer ('' without one)."""
    m = layer_cost.mapping
    if m is None:
        return ""
    n = int(m.get("l1_tiles", 1))
    return f"{n} L1 tile{'s' if n != 1 else ''}"


def _model(mapper: MapperSettings | None, cache_dir: Path | None) -> Any:
    return McuCostModel()


register_family(
    HardwareFamily(
        name="mcu",
        schema=McuSchema,
        build=build,
        cost_model=_model,
        default_objectives=(Objective.LATENCY, Objective.MEMORY),
        describe=describe,
        description="MCU / RISC-V core with a MACs-per-cycle table per (activation, weight) bits",
    )
)
