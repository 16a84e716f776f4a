"""Frozen hardware domain objects built from validated YAML."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
