"""Validated schema of hardware YAML files (pydantic, unknown keys forbidden)."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    StrictBool,
    model_validator,
)

SCHEMA_VERSION = 1
MAX_BITS = 16


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BitsSchema(_Strict):
    """Bit-widths the hardware supports; weight bits may include 0 (a pruned channel)."""

    activation: list[int] = Field(min_length=1)
    weight: list[int] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> BitsSchema:
        for field, values, lo in (("activation", self.activation, 1), ("weight", self.weight, 0)):
            for v in values:
                if not lo <= v <= MAX_BITS:
                    raise ValueError(f"{field}: bit-width {v} is outside {lo}..{MAX_BITS}")
            if len(set(values)) != len(values):
                raise ValueError(f"{field}: bit-widths repeat: {values}")
        if not [w for w in self.weight if w > 0]:
            raise ValueError("weight: needs at least one non-zero bit-width")
        return self


def check_bit_table(field: str, table: dict[int, dict[int, float]], bits: BitsSchema) -> None:
    """Raise `ValueError` ("<field>.<a>...: ...") unless `table` has exactly one entry per
    supported (activation bits, non-zero weight bits) pair."""
    for a in bits.activation:
        if a not in table:
            raise ValueError(f"{field}: no row for activation bits {a}")
        for w in bits.weight:
            if w > 0 and w not in table[a]:
                raise ValueError(f"{field}.{a}: no entry for weight bits {w}")
    for a, row in table.items():
        if a not in bits.activation:
            raise ValueError(f"{field}.{a}: activation bits {a} not in bits.activation")
        for w in row:
            if w not in bits.weight or w == 0:
                raise ValueError(
                    f"{field}.{a}.{w}: weight bits {w} not a non-zero bits.weight entry"
                )


class McuMemorySchema(_Strict):
    """On-chip memories of an MCU, in bytes."""

    l1_bytes: PositiveInt
    l2_bytes: PositiveInt


class McuSchema(_Strict):
    """An MCU / RISC-V core whose throughput depends on the (activation, weight) bit-widths."""

    version: Literal[1]
    name: str = Field(min_length=1)
    family: Literal["mcu"]
    description: str = ""
    clock_hz: PositiveFloat
    power_mw: PositiveFloat
    memory: McuMemorySchema
    bits: BitsSchema
    macs_per_cycle: dict[int, dict[int, PositiveFloat]]
    other_ops_per_cycle: PositiveFloat

    @model_validator(mode="after")
    def _table_covers_bits(self) -> McuSchema:
        check_bit_table("macs_per_cycle", self.macs_per_cycle, self.bits)
        return self


OPERANDS = ("W", "I", "O")
DATAFLOWS = (
    "weight_stationary",
    "output_stationary",
    "input_stationary",
    "row_stationary",
    "unconstrained",
)


class PeArraySchema(_Strict):
    """The 2-D processing-element array."""

    rows: PositiveInt
    cols: PositiveInt


class MemorySchema(_Strict):
    """One memory level. `capacity_bits` per operand (W, I, O) or `shared` by all three; an
    operand a per-operand level does not list, or that a shared level does not `hold`, always
    skips it. `bypass` lists the operands a mapping may let skip the level (the hardware has a
    path around it)."""

    name: str = Field(min_length=1)
    per_pe: bool = False
    capacity_bits: dict[str, float]
    access_pj_per_bit: PositiveFloat
    bandwidth_bits_per_cycle: PositiveFloat
    bypass: list[Literal["W", "I", "O"]] = Field(default_factory=list)
    holds: list[Literal["W", "I", "O"]] = Field(default_factory=lambda: ["W", "I", "O"])

    @model_validator(mode="after")
    def _check(self) -> MemorySchema:
        keys = set(self.capacity_bits)
        if keys != {"shared"} and not keys <= set(OPERANDS):
            raise ValueError(f"capacity_bits: use 'shared' or some of W, I, O, not {sorted(keys)}")
        if any(v <= 0 for v in self.capacity_bits.values()):
            raise ValueError("capacity_bits: capacities must be > 0")
        return self


class MacSchema(_Strict):
    """MAC energy (pJ) and throughput (MACs per PE per cycle) per (activation, weight) bits."""

    energy_pj: dict[int, dict[int, PositiveFloat]]
    per_pe_per_cycle: dict[int, dict[int, PositiveFloat]]
    # true: consecutive MACs that use the same weight or input keep it in the multiplier's
    # input registers instead of re-reading the register file
    input_registers: StrictBool = False


class SpatialSchema(_Strict):
    """A spatial accelerator: PE array, three memory levels (per-PE, on-chip global, off-chip)."""

    version: Literal[1]
    name: str = Field(min_length=1)
    family: Literal["spatial"]
    description: str = ""
    clock_hz: PositiveFloat
    pe_array: PeArraySchema
    bits: BitsSchema
    psum_bits: PositiveInt
    mac: MacSchema
    memories: list[MemorySchema] = Field(min_length=3, max_length=3)
    dataflows: list[Literal[DATAFLOWS]] = Field(min_length=1)  # type: ignore[valid-type]
    other_ops_per_cycle: PositiveFloat
    other_op_pj: PositiveFloat

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
