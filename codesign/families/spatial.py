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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

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


# ---- sizing: the parameters a hardware space varies ---------------------------------------

PARAMETERS = {
    "pe_rows": "PE array rows",
    "pe_cols": "PE array columns",
    "rf_W_bits": "per-PE register file capacity for weights, bits",
    "rf_I_bits": "per-PE register file capacity for input activations, bits",
    "rf_O_bits": "per-PE register file capacity for partial sums, bits",
    "glb_bits": "global buffer capacity (shared by every operand), bits",
    "glb_bandwidth": "global buffer bandwidth, bits per cycle (one 64-bit bank per 64 bits)",
    "dram_bandwidth": "off-chip bandwidth, bits per cycle",
    "max_bits": "widest activation and weight bits the PEs support (the base's narrower "
    "bit-widths stay); a narrower multiplier costs less area, and on a fixed-datapath array "
    "(one MAC per PE per cycle) less energy per MAC",
}
RF_WORD_BITS = 16  # a register file is modelled as an SRAM read one 16-bit word at a time
GLB_BANK_BITS = 64  # the global buffer as banks with 64-bit ports, one per 64 bits per cycle


def sizes(hw: SpatialHardware) -> dict[str, float]:
    """The value of every sizing parameter on `hw` (NaN where the level does not have it)."""
    rf, glb, dram = hw.memories
    nan = float("nan")
    per_op = {} if rf.shared else dict(zip(("W", "I", "O"), rf.capacity_bits))
    return {
        "pe_rows": hw.rows,
        "pe_cols": hw.cols,
        "rf_W_bits": per_op.get("W", nan),
        "rf_I_bits": per_op.get("I", nan),
        "rf_O_bits": per_op.get("O", nan),
        "glb_bits": glb.capacity_bits[0] if glb.shared else nan,
        "glb_bandwidth": glb.bandwidth_bits_per_cycle,
        "dram_bandwidth": dram.bandwidth_bits_per_cycle,
        "max_bits": max(max(hw.act_bits), max(hw.weight_bits)),
    }


def _rf_pj_per_bit(caps: tuple[float, ...], comps: Any) -> float:
    """Mean energy per bit of a per-PE level's operand stores (those with room)."""
    e = [comps.sram_pj_per_bit(c, RF_WORD_BITS) for c in caps if c > 0]
    return sum(e) / len(e)


def _glb_banks(bandwidth: float) -> int:
    return max(1, round(bandwidth / GLB_BANK_BITS))


def _glb_pj_per_bit(cap: float, bandwidth: float, comps: Any) -> float:
    banks = _glb_banks(bandwidth)
    return comps.sram_pj_per_bit(cap / banks, GLB_BANK_BITS)


def vary(hw: SpatialHardware, values: dict[str, float], comps: Any) -> SpatialHardware:
    """`hw` with the sizing parameters `values` (names of `PARAMETERS`); `hw` itself when
    every value is the base's. A memory whose capacity or width changes has its energy per
    bit scaled by the component table's ratio (new / base): the base file's cited figures
    stay, the table says how they grow. `ConfigError` for a parameter this hardware has not
    (a per-operand RF capacity on a shared RF, ...)."""
    cur = sizes(hw)
    changed = {}
    for k, v in values.items():
        if k not in PARAMETERS:
            raise ConfigError(f"unknown sizing parameter '{k}'; known: {', '.join(PARAMETERS)}")
        if cur[k] != cur[k]:  # NaN: not on this hardware
            raise ConfigError(f"'{k}': {hw.name} has no such memory (see hw_models/README.md)")
        if float(v) != float(cur[k]):
            changed[k] = float(v)
    if "max_bits" in changed and changed["max_bits"] > cur["max_bits"]:
        raise ConfigError(
            f"'max_bits': {_show(changed['max_bits'])} is wider than {hw.name}'s widest "
            f"bit-width ({_show(cur['max_bits'])}); its MAC tables have no such entry"
        )
    top = changed.get("max_bits")
    if top is not None and (min(hw.act_bits) > top or min(hw.weight_bits) > top):
        raise ConfigError(f"'max_bits': {hw.name} supports no bit-width <= {_show(top)}")
    if not changed:
        return hw
    new = {**cur, **changed}
    rf, glb, dram = hw.memories
    if any(k.startswith("rf_") for k in changed):
        caps = (new["rf_W_bits"], new["rf_I_bits"], new["rf_O_bits"])
        # an operand the base RF has no room for keeps none
        caps = tuple(c if b > 0 else 0.0 for c, b in zip(caps, rf.capacity_bits))
        scale = _rf_pj_per_bit(caps, comps) / _rf_pj_per_bit(rf.capacity_bits, comps)
        rf = replace(rf, capacity_bits=caps, access_pj_per_bit=rf.access_pj_per_bit * scale)
    if "glb_bits" in changed or "glb_bandwidth" in changed:
        cap, bw = new["glb_bits"], new["glb_bandwidth"]
        base_cap = glb.capacity_bits[0]
        scale = (
            _glb_pj_per_bit(cap, bw, comps)
            / _glb_pj_per_bit(base_cap, glb.bandwidth_bits_per_cycle, comps)
            if glb.shared
            else 1.0
        )
        caps = (cap,) * 3 if glb.shared else glb.capacity_bits
        glb = replace(
            glb,
            capacity_bits=caps,
            bandwidth_bits_per_cycle=bw,
            access_pj_per_bit=glb.access_pj_per_bit * scale,
        )
    if "dram_bandwidth" in changed:
        dram = replace(dram, bandwidth_bits_per_cycle=new["dram_bandwidth"])
    bits = {}
    if "max_bits" in changed:
        bits = _narrower(hw, int(new["max_bits"]), comps)
    rows, cols = int(new["pe_rows"]), int(new["pe_cols"])
    other = hw.other_ops_per_cycle
    if rows * cols != hw.num_pes:
        other = other * rows * cols / hw.num_pes
    tag = " ".join(f"{k}={_show(v)}" for k, v in changed.items())
    return replace(
        hw,
        name=f"{hw.name} [{tag}]",
        rows=rows,
        cols=cols,
        memories=(rf, glb, dram),
        # pooling / elementwise throughput scales with the array (one op per PE per cycle)
        other_ops_per_cycle=other,
        **bits,
    )


def _narrower(hw: SpatialHardware, top: int, comps: Any) -> dict[str, Any]:
    """The bit-width fields of `hw` with only the bit-widths up to `top`; on a fixed-datapath
    array (one MAC per PE per cycle at every precision) each MAC energy is scaled by the
    table's ratio of a `top`-bit MAC to the base's widest one."""
    ai = [i for i, b in enumerate(hw.act_bits) if b <= top]
    wi = [j for j, b in enumerate(hw.weight_bits) if b <= top]
    fixed = all(v == 1.0 for row in hw.macs_per_pe_per_cycle for v in row)
    scale = 1.0
    if fixed:
        widest = max(max(hw.act_bits), max(hw.weight_bits))
        scale = comps.mac(top, top, hw.psum_bits)[0] / comps.mac(widest, widest, hw.psum_bits)[0]
    return {
        "act_bits": tuple(hw.act_bits[i] for i in ai),
        "weight_bits": tuple(hw.weight_bits[j] for j in wi),
        "mac_energy_pj": tuple(tuple(hw.mac_energy_pj[i][j] * scale for j in wi) for i in ai),
        "macs_per_pe_per_cycle": tuple(
            tuple(hw.macs_per_pe_per_cycle[i][j] for j in wi) for i in ai
        ),
    }


def _show(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def area_mm2(hw: SpatialHardware, comps: Any) -> float:
    """Area (mm^2) of `hw`'s modelled parts, from the component table: per PE a MAC (the
    widest supported precision's multiplier and a `psum_bits` adder) and its register file
    (one 16-bit-word SRAM per operand store), then the global buffer as 64-bit banks (one
    per 64 bits per cycle of bandwidth). The on-chip network, control and pads are not
    modelled, nor off-chip DRAM."""
    rf, glb, _ = hw.memories
    _, mac_um2 = comps.mac(max(hw.act_bits), max(hw.weight_bits), hw.psum_bits)
    stores = (rf.capacity_bits[0],) if rf.shared else rf.capacity_bits
    rf_um2 = sum(comps.sram_area_um2(c, RF_WORD_BITS) for c in stores if c > 0)
    banks = _glb_banks(glb.bandwidth_bits_per_cycle)
    glb_cap = glb.capacity_bits[0] if glb.shared else sum(glb.capacity_bits)
    glb_um2 = banks * comps.sram_area_um2(glb_cap / banks, GLB_BANK_BITS)
    return (hw.num_pes * (mac_um2 + rf_um2) + glb_um2) * 1e-6


def to_doc(hw: SpatialHardware) -> dict[str, Any]:
    """The hardware file (as a document) that loads back into `hw` (`build` of it equals it,
    but for `source`)."""

    def table(t: tuple[tuple[float, ...], ...]) -> dict[int, dict[int, float]]:
        return {a: dict(zip(hw.weight_bits, row)) for a, row in zip(hw.act_bits, t)}

    mems = []
    for m in hw.memories:
        caps = (
            {"shared": m.capacity_bits[0]}
            if m.shared
            else {op: c for op, c in zip(OPERANDS, m.capacity_bits) if c > 0}
        )
        doc: dict[str, Any] = {
            "name": m.name,
            "per_pe": m.per_pe,
            "capacity_bits": caps,
            "access_pj_per_bit": m.access_pj_per_bit,
            "bandwidth_bits_per_cycle": m.bandwidth_bits_per_cycle,
        }
        if any(m.bypass):
            doc["bypass"] = [op for op, b in zip(OPERANDS, m.bypass) if b]
        if not all(m.holds):
            doc["holds"] = [op for op, h in zip(OPERANDS, m.holds) if h]
        mems.append(doc)
    return {
        "version": 1,
        "name": hw.name,
        "family": "spatial",
        "description": hw.description,
        "clock_hz": hw.clock_hz,
        "pe_array": {"rows": hw.rows, "cols": hw.cols},
        "bits": {"activation": list(hw.act_bits), "weight": list(hw.weight_bits)},
        "psum_bits": hw.psum_bits,
        "mac": {
            "energy_pj": table(hw.mac_energy_pj),
            "per_pe_per_cycle": table(hw.macs_per_pe_per_cycle),
            "input_registers": hw.input_registers,
        },
        "memories": mems,
        "dataflows": list(hw.dataflows),
        "other_ops_per_cycle": hw.other_ops_per_cycle,
        "other_op_pj": hw.other_op_pj,
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
        parameters=PARAMETERS,
        sizes=sizes,
        vary=vary,
        area_mm2=area_mm2,
        to_doc=to_doc,
    )
)
