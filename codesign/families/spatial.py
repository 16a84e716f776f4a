"""The spatial family: DNN accelerators (Eyeriss-, Simba-, TPU-, BitFusion-like) priced by the
loop-nest model (`cost/spatial.py`) over the mappings the mapper keeps (`mapping/mapper.py`).

This file owns the family: its YAML schema, the frozen `SpatialHardware` (which the model and
the mapper read, typed against it), the cost model, how a mapping is described and the
default objectives. It sits above the model and the mapper: it turns each layer's kept
mappings into the per-layer mapping gene of the cost tables, and prices one configuration
exactly with the mapping each layer picked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt, StrictBool, model_validator

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
from codesign.cost.tables import (
    CHANNEL_PARAM_BITS,
    CostTables,
    activation_storage,
    check_tied,
    memory_fields,
)
from codesign.hw.family import HardwareFamily, register_family
from codesign.hw.schema import (
    BitsSchema,
    CapacityBits,
    EnergyPj,
    HardwareSchema,
    PerCycle,
    StrictModel,
    check_bit_table,
)
from codesign.mapping.mapper import KEEP, map_layer
from codesign.workload.graph import LayerGraph

# ---- the hardware file -------------------------------------------------------------------


OPERANDS = ("W", "I", "O")
DATAFLOWS = (
    "weight_stationary",
    "output_stationary",
    "input_stationary",
    "row_stationary",
    "unconstrained",
)


class PeArraySchema(StrictModel):
    """The 2-D processing-element array."""

    rows: PositiveInt = Field(description="PE rows")
    cols: PositiveInt = Field(description="PE columns")


class MemorySchema(StrictModel):
    """One memory level. `capacity_bits` per operand (W, I, O) or `shared` by all three; an
    operand a per-operand level does not list, or that a shared level does not `hold`, always
    skips it. `bypass` lists the operands a mapping may let skip the level (the hardware has a
    path around it)."""

    name: str = Field(min_length=1, description="the level's name (RF, GLB, DRAM, ...)")
    per_pe: bool = Field(False, description="true: one instance inside every PE")
    capacity_bits: dict[str, CapacityBits] = Field(  # type: ignore[valid-type]
        description="capacity in bits per operand (W, I, O) or one 'shared' pool"
    )
    access_pj_per_bit: EnergyPj = Field(  # type: ignore[valid-type]
        description="energy per bit read or written, pJ"
    )
    bandwidth_bits_per_cycle: PerCycle = Field(  # type: ignore[valid-type]
        description="port bandwidth, bits per cycle"
    )
    bypass: list[Literal["W", "I", "O"]] = Field(
        default_factory=list, description="operands a mapping may let skip this level"
    )
    holds: list[Literal["W", "I", "O"]] = Field(
        default_factory=lambda: ["W", "I", "O"],
        description="operands a shared level stores (the others always skip it)",
    )

    @model_validator(mode="after")
    def _check(self) -> MemorySchema:
        keys = set(self.capacity_bits)
        if keys != {"shared"} and not keys <= set(OPERANDS):
            raise ValueError(f"capacity_bits: use 'shared' or some of W, I, O, not {sorted(keys)}")
        if any(v <= 0 for v in self.capacity_bits.values()):
            raise ValueError("capacity_bits: capacities must be > 0")
        return self


class MacSchema(StrictModel):
    """MAC energy (pJ) and throughput (MACs per PE per cycle) per (activation, weight) bits."""

    energy_pj: dict[int, dict[int, EnergyPj]] = Field(  # type: ignore[valid-type]
        description="activation bits -> weight bits -> energy per MAC, pJ"
    )
    per_pe_per_cycle: dict[int, dict[int, PerCycle]] = Field(  # type: ignore[valid-type]
        description="activation bits -> weight bits -> MACs per PE per cycle (> 1: bit-flexible)"
    )
    # true: consecutive MACs that use the same weight or input keep it in the multiplier's
    # input registers instead of re-reading the register file
    input_registers: StrictBool = Field(
        False,
        description="true: a MAC keeps a reused weight or input in its input register "
        "(the per-PE memory is read once per run of MACs)",
    )


class SpatialSchema(HardwareSchema):
    """A spatial accelerator: PE array, three memory levels (per-PE, on-chip global, off-chip)."""

    family: Literal["spatial"] = Field(description="this schema: a spatial accelerator")
    pe_array: PeArraySchema
    bits: BitsSchema
    psum_bits: PositiveInt = Field(description="partial-sum width in bits")
    mac: MacSchema
    memories: list[MemorySchema] = Field(
        min_length=3, max_length=3, description="per-PE, global on-chip, off-chip: in this order"
    )
    dataflows: list[Literal[DATAFLOWS]] = Field(  # type: ignore[valid-type]
        min_length=1, description="the dataflows the mapper may use (unconstrained: any unrolling)"
    )
    other_ops_per_cycle: PerCycle = Field(  # type: ignore[valid-type]
        description="pooling / elementwise / normalisation operations per cycle (whole array)"
    )
    other_op_pj: EnergyPj = Field(  # type: ignore[valid-type]
        description="energy per such operation, pJ"
    )

    @model_validator(mode="after")
    def _check(self) -> SpatialSchema:
        if [m.per_pe for m in self.memories] != [True, False, False]:
            raise ValueError(
                "memories: need [per-PE, global on-chip, off-chip] in this order "
                "(per_pe: true, false, false)"
            )
        for table_name in ("energy_pj", "per_pe_per_cycle"):
            check_bit_table(f"mac.{table_name}", getattr(self.mac, table_name), self.bits)
        if 0 in self.bits.weight:
            raise ValueError("bits.weight: spatial arrays here do not prune channels (no 0)")
        off_chip = self.memories[2]
        if off_chip.bypass or len(off_chip.holds) < 3 or set(off_chip.capacity_bits) != {"shared"}:
            raise ValueError(
                "memories.2: the off-chip level holds every operand (capacity_bits: {shared: "
                "...}, no bypass)"
            )
        return self


# ---- the domain object (what the loop-nest model and the mapper price) ------------------


@dataclass(frozen=True)
class MemoryLevel:
    """One memory level: capacity per operand in bits (inf when unbounded), pJ per bit moved,
    port bandwidth in bits per cycle; `per_pe` levels exist once in every PE."""

    name: str
    per_pe: bool
    capacity_bits: tuple[float, float, float]  # W, I, O; a shared level repeats its total
    shared: bool
    access_pj_per_bit: float
    bandwidth_bits_per_cycle: float
    # W, I, O: whether a mapping may let the operand skip this level (a path around it exists)
    bypass: tuple[bool, bool, bool] = (False, False, False)
    # W, I, O: whether the level stores the operand at all (a shared pool may hold only some)
    holds: tuple[bool, bool, bool] = (True, True, True)

    @property
    def must_bypass(self) -> tuple[bool, bool, bool]:
        """W, I, O: the operand has no room here (a per-operand level that does not list it,
        or a shared pool that does not hold it)."""
        return tuple(
            not h or (not self.shared and c == 0) for h, c in zip(self.holds, self.capacity_bits)
        )  # type: ignore[return-value]

    @property
    def may_bypass(self) -> tuple[bool, bool, bool]:
        """W, I, O: the operand may (or must) skip this level."""
        return tuple(b or m for b, m in zip(self.bypass, self.must_bypass))  # type: ignore[return-value]


@dataclass(frozen=True)
class SpatialHardware:
    """A spatial DNN accelerator: PE array, memories [per-PE, global, off-chip], MAC tables.

    `mac_energy_pj[i][j]` and `macs_per_pe_per_cycle[i][j]` are indexed by `act_bits[i]`,
    `weight_bits[j]`.
    """

    name: str
    clock_hz: float
    rows: int
    cols: int
    act_bits: tuple[int, ...]
    weight_bits: tuple[int, ...]
    psum_bits: int
    mac_energy_pj: tuple[tuple[float, ...], ...]
    macs_per_pe_per_cycle: tuple[tuple[float, ...], ...]
    memories: tuple[MemoryLevel, MemoryLevel, MemoryLevel]
    dataflows: tuple[str, ...]
    other_ops_per_cycle: float
    other_op_pj: float
    source: str = ""
    description: str = ""
    # the multiplier's input registers keep a weight or input while consecutive MACs use it,
    # so the register file is read once per run, not per MAC (partial sums: every MAC)
    input_registers: bool = False

    family = "spatial"

    @property
    def num_pes(self) -> int:
        """Processing elements in the array."""
        return self.rows * self.cols

    @property
    def memory_limit_bytes(self) -> float:
        """Capacity of the off-chip level in bytes (the 'fits in memory' constraint)."""
        return self.memories[2].capacity_bits[0] / 8.0


# ---- building it, pricing with it --------------------------------------------------------


def build(s: SpatialSchema, path: Path) -> SpatialHardware:
    """The frozen `SpatialHardware` of a validated file."""
    act, wts = tuple(s.bits.activation), tuple(s.bits.weight)
    mems = []
    for m in s.memories:
        shared = set(m.capacity_bits) == {"shared"}
        caps = (
            (float(m.capacity_bits["shared"]),) * 3
            if shared
            else tuple(float(m.capacity_bits.get(op, 0.0)) for op in OPERANDS)
        )
        mems.append(
            MemoryLevel(
                m.name,
                m.per_pe,
                caps,
                shared,
                m.access_pj_per_bit,
                m.bandwidth_bits_per_cycle,
                tuple(op in m.bypass for op in OPERANDS),  # type: ignore[arg-type]
                tuple(op in m.holds for op in OPERANDS),  # type: ignore[arg-type]
            )
        )
    return SpatialHardware(
        name=s.name,
        clock_hz=s.clock_hz,
        rows=s.pe_array.rows,
        cols=s.pe_array.cols,
        act_bits=act,
        weight_bits=wts,
        psum_bits=s.psum_bits,
        mac_energy_pj=tuple(tuple(float(s.mac.energy_pj[a][w]) for w in wts) for a in act),
        macs_per_pe_per_cycle=tuple(
            tuple(float(s.mac.per_pe_per_cycle[a][w]) for w in wts) for a in act
        ),
        memories=tuple(mems),
        dataflows=tuple(s.dataflows),
        other_ops_per_cycle=s.other_ops_per_cycle,
        other_op_pj=s.other_op_pj,
        input_registers=s.mac.input_registers,
        source=str(path),
        description=s.description,
    )


def _other_layer(spec: LayerSpec, hw: SpatialHardware) -> tuple[float, float]:
    """(cycles, pJ) of a pooling / elementwise layer: ops on the array, data via the buffer."""
    pricing = spec.kind.traits.pricing
    if pricing is Pricing.FREE:
        return 0.0, 0.0
    if pricing is not Pricing.PER_ELEMENT:
        raise ConfigError(
            f"layer '{spec.name}' ({spec.kind.value}): the spatial cost model cannot price it"
        )
    moved_bits = (spec.input_elems + spec.output_elems) * max(hw.act_bits)
    energy = spec.ops * hw.other_op_pj + moved_bits * hw.memories[1].access_pj_per_bit
    return spec.ops / hw.other_ops_per_cycle, energy


class SpatialCostModel:
    """Maps each layer once per precision (kept: `KEEP`), then prices networks by gathers.

    `mapper` settings and the `cache_dir` of mapper results are bound at construction, so the
    tables and the exact prices use the same kept mappings.
    """

    def __init__(self, mapper: MapperSettings | None = None, cache_dir: Path | None = None) -> None:
        self.mapper = mapper or MapperSettings()
        self.cache_dir = cache_dir

    def _map(self, spec: LayerSpec, hw: SpatialHardware):  # noqa: ANN202
        return map_layer(spec, hw, self.mapper, self.cache_dir)

    def build_tables(self, graph: LayerGraph, hw: SpatialHardware) -> CostTables:
        """Map and price every quantizable layer at every (a, w) pair; the tables' mapping
        axis holds the kept mappings (`KEEP`)."""
        q = graph.quantizable
        cyc, en = [], []
        for spec in q:
            lm = self._map(spec, hw)
            cyc.append(lm.cycles)
            en.append(lm.energy_pj * 1e-12)
        check_tied(graph, hw)
        fixed = [_other_layer(s, hw) for s in graph.layers if not s.kind.quantized]
        return CostTables(
            layer_names=tuple(s.name for s in q),
            act_bits=hw.act_bits,
            weight_bits=hw.weight_bits,
            cycles=np.stack(cyc),
            energy_j=np.stack(en),
            fixed_cycles=float(sum(c for c, _ in fixed)),
            fixed_energy_j=float(sum(e for _, e in fixed)) * 1e-12,
            clock_hz=hw.clock_hz,
            memory_limit_bytes=hw.memory_limit_bytes,
            mapping_names=KEEP,
            channel_refusal=(
                f"{hw.name} (spatial family) runs one weight bit-width per layer: its PE "
                "array's cost is not linear in a layer's channels, and its weight bits have no "
                "0 (pruning); per-channel bits are priced on MCU-family hardware such as "
                "hw_models/mpic.yaml. Use --granularity layer"
            ),
            **memory_fields(graph, hw.act_bits, hw.weight_bits),
        )

    def price(
        self,
        graph: LayerGraph,
        hw: SpatialHardware,
        configuration: Configuration | Mapping[str, Precision],
    ) -> NetworkCost:
        """Exact cost of one configuration; each layer runs the kept mapping the
        configuration picks (0 when absent), described in its `LayerCost.mapping`.

        Weight bits must be uniform within a layer (these arrays have no per-channel kernels).
        """
        cfg = Configuration.of(configuration)
        assignment, mapping = cfg.precisions, cfg.mapping
        layers = {}
        total_cycles = total_pj = weight_bytes = 0.0
        for spec in graph.layers:
            if not spec.kind.quantized:
                cyc, pj = _other_layer(spec, hw)
                layers[spec.name] = LayerCost(cyc, cyc / hw.clock_hz, pj * 1e-12, 0.0, 0.0)
                total_cycles += cyc
                total_pj += pj
                continue
            if spec.name not in assignment:
                raise ConfigError(f"layer '{spec.name}': no precision given")
            p = assignment[spec.name]
            bits = set(p.weight_bits)
            if len(bits) != 1:
                raise ConfigError(
                    f"layer '{spec.name}': {hw.name} needs one weight bit-width per "
                    f"layer, got {sorted(bits)}"
                )
            w = bits.pop()
            if not spec.kind.has_weights and w != p.act_bits:
                raise ConfigError(
                    f"layer '{spec.name}' multiplies two activations: its second operand "
                    f"takes the activation bits ({p.act_bits}), not {w}"
                )
            if p.act_bits not in hw.act_bits or w not in hw.weight_bits:
                raise ConfigError(
                    f"layer '{spec.name}': a{p.act_bits}/w{w} not supported by "
                    f"{hw.name} (a {list(hw.act_bits)}, w {list(hw.weight_bits)})"
                )
            mi = int(mapping.get(spec.name, 0))
            if not 0 <= mi < len(KEEP):
                raise ConfigError(f"layer '{spec.name}': mapping {mi} not in 0..{len(KEEP) - 1}")
            lm = self._map(spec, hw)
            ai, wi = hw.act_bits.index(p.act_bits), hw.weight_bits.index(w)
            idx = int(lm.index[ai, wi, mi])
            cyc, pj = float(lm.cycles[ai, wi, mi]), float(lm.energy_pj[ai, wi, mi])
            wb = spec.K * (spec.weights_per_channel * w + CHANNEL_PARAM_BITS) / 8.0
            wb *= spec.kind.has_weights
            desc = MappingDescription(
                "spatial",
                choice=KEEP[mi],
                utilization=float(lm.utilization[ai, wi, mi]),
                details=tuple(lm.mappings.describe(idx).items()),
            )
            layers[spec.name] = LayerCost(
                cyc,
                cyc / hw.clock_hz,
                pj * 1e-12,
                wb,
                (spec.input_elems + spec.output_elems) * p.act_bits / 8.0,
                mapping=desc,
            )
            total_cycles += cyc
            total_pj += pj
            weight_bytes += wb
        _, peak_act = activation_storage(
            graph, {n: p.act_bits for n, p in assignment.items()}, max(hw.act_bits)
        )
        return NetworkCost(
            layers,
            total_cycles,
            total_cycles / hw.clock_hz,
            total_pj * 1e-12,
            weight_bytes,
            peak_act,
            hw.memory_limit_bytes,
        )


def describe(layer_cost: LayerCost) -> str:
    """'RS K16xOY14'-style tag: dataflow initials and spatial unrolling ('' without one)."""
    m = layer_cost.mapping
    if m is None:
        return ""
    flow = "".join(w[0].upper() for w in str(m.get("dataflow", "")).split("_")[:2])
    sp = "x".join(f"{d}{f}" for d, f in (m.get("spatial") or {}).items())
    return f"{flow} {sp}".strip()


def _loops(levels: dict) -> str:
    """'PE: OY2 OX4 | GLB: K3 C2 | DRAM: -' from a mapping's per-level factors or names."""

    def text(v: dict[str, int] | str) -> str:
        return " ".join(f"{d}{f}" for d, f in v.items()) if isinstance(v, dict) else v

    return " | ".join(f"{lv}: {text(v) or '-'}" for lv, v in levels.items())


def details(layer_cost: LayerCost) -> dict[str, str]:
    """A layer's loop-nest mapping in named columns: dataflow, unrolling, utilisation, tiling
    and loop order per level, operands that skip a level, and which kept pick it is."""
    m = layer_cost.mapping
    if m is None:
        return {}
    byp = m.get("bypass") or {}
    util = m.utilization
    return {
        "dataflow": str(m.get("dataflow")),
        "unrolling": " ".join(f"{d}{f}" for d, f in (m.get("spatial") or {}).items()),
        "utilisation": "-" if util is None else f"{util:.0%}",
        "tiling": _loops(m.get("tiling") or {}),
        "loop order": _loops(m.get("loop_order") or {}),
        "bypass": "; ".join(f"{lv}: {' '.join(ops)}" for lv, ops in byp.items()) or "-",
        "kept as": m.choice,
    }


# the CLI's letter for each of the mapper's kept picks (`mapping.mapper.KEEP`, in its order)
_LETTERS = {"min energy": "E", "min latency": "L", "min EDP": "D", "other dataflow": "O"}


register_family(
    HardwareFamily(
        name="spatial",
        schema=SpatialSchema,
        build=build,
        cost_model=SpatialCostModel,
        default_objectives=(Objective.ENERGY, Objective.LATENCY),
        description="spatial DNN accelerator: PE array, memory hierarchy, loop-nest mappings",
        mapping_legend="mapping per layer: the mapper's kept pick, "
        + ", ".join(f"{letter} = {name}" for name, letter in _LETTERS.items())
        + "; details in the report",
        mapping_letters="".join(_LETTERS[name] for name in KEEP),
        describe=describe,
        details=details,
    )
)
