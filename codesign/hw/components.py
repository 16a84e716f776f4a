"""Component cost tables: SRAM energy per access and area by capacity and port width, MAC
energy and area by precision, tabulated once from a cited model (CACTI 7 and Aladdin through
`hwcomponents`, by `tools/tabulate_components.py`) into a YAML that codesign reads. CACTI is
never run here: only the table is.

Between tabulated capacities a figure is interpolated linearly in log(capacity) and
log(figure), so it grows with capacity wherever the table does; below the smallest capacity
area scales linearly and energy per bit stays, above the largest both extend the last
segment's slope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import Field, PositiveInt, model_validator

from codesign.core.errors import HardwareModelError
from codesign.core.yamlio import load_mapping, validate
from codesign.hw.schema import StrictModel, plausible

Positive = plausible(1e-12, 1e15)
DEFAULT_COMPONENTS = "components/cacti_45nm.yaml"


class SramRow(StrictModel):
    """One SRAM macro: capacity and port width, energy per read / write of one port width,
    area."""

    capacity_bits: PositiveInt = Field(description="capacity in bits")
    width_bits: PositiveInt = Field(description="bits per access (port width)")
    read_pj: Positive = Field(description="energy per read of width_bits, pJ")  # type: ignore[valid-type]
    write_pj: Positive = Field(description="energy per write of width_bits, pJ")  # type: ignore[valid-type]
    area_um2: Positive = Field(description="area, um^2")  # type: ignore[valid-type]


class MultiplierRow(StrictModel):
    """An integer multiplier of a_bits x w_bits: energy per multiply, area."""

    a_bits: PositiveInt = Field(description="first operand's bits (activations)")
    w_bits: PositiveInt = Field(description="second operand's bits (weights)")
    energy_pj: Positive = Field(description="energy per multiply, pJ")  # type: ignore[valid-type]
    area_um2: Positive = Field(description="area, um^2")  # type: ignore[valid-type]


class AdderRow(StrictModel):
    """An integer adder (the accumulator): energy per add, area."""

    bits: PositiveInt = Field(description="adder width in bits")
    energy_pj: Positive = Field(description="energy per add, pJ")  # type: ignore[valid-type]
    area_um2: Positive = Field(description="area, um^2")  # type: ignore[valid-type]


class ComponentsSchema(StrictModel):
    """A component table file: which tool made its numbers, at which node, and the rows."""

    version: int = Field(description="format version (1)")
    name: str = Field(min_length=1, description="the table's name")
    technology_nm: plausible(1.0, 1000.0) = Field(  # type: ignore[valid-type]
        description="technology node of every figure, nm"
    )
    sram_tool: str = Field(min_length=1, description="tool and version of the SRAM rows")
    mac_tool: str = Field(min_length=1, description="tool and version of the MAC rows")
    generated_by: str = Field("", description="the script that wrote the file")
    sram: list[SramRow] = Field(min_length=2)
    multiplier: list[MultiplierRow] = Field(min_length=1)
    adder: list[AdderRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ComponentsSchema:
        if self.version != 1:
            raise ValueError(f"version: expected 1, got {self.version}")
        widths: dict[int, list[int]] = {}
        for r in self.sram:
            widths.setdefault(r.width_bits, []).append(r.capacity_bits)
        for w, caps in widths.items():
            if len(caps) < 2 or len(set(caps)) != len(caps):
                raise ValueError(f"sram: width {w} needs two or more distinct capacities")
        return self


@dataclass(frozen=True)
class ComponentTable:
    """The rows of a component table, by port width (SRAM) and operand bits (MACs)."""

    name: str
    technology_nm: float
    sram_tool: str
    mac_tool: str
    # width -> ((capacity_bits, read_pj_per_bit, area_um2), ...) ascending in capacity
    sram: tuple[tuple[int, tuple[tuple[float, float, float], ...]], ...]
    multiplier: tuple[tuple[int, int, float, float], ...]
    adder: tuple[tuple[int, float, float], ...]
    source: str = ""

    def _rows(self, width_bits: float) -> tuple[int, tuple[tuple[float, float, float], ...]]:
        """The rows of the tabulated width nearest `width_bits` (in log)."""
        return min(self.sram, key=lambda wr: abs(math.log(wr[0] / width_bits)))

    def sram_pj_per_bit(self, capacity_bits: float, width_bits: float) -> float:
        """Read energy per bit (pJ) of an SRAM of `capacity_bits` accessed `width_bits` at a
        time (the nearest tabulated width)."""
        _, rows = self._rows(width_bits)
        return _interp(capacity_bits, [(c, e) for c, e, _ in rows], extend_below=False)

    def sram_area_um2(self, capacity_bits: float, width_bits: float) -> float:
        """Area (um^2) of an SRAM of `capacity_bits` with a `width_bits` port."""
        _, rows = self._rows(width_bits)
        return _interp(capacity_bits, [(c, a) for c, _, a in rows], extend_below=True)

    def mac(self, a_bits: int, w_bits: int, acc_bits: int) -> tuple[float, float]:
        """(energy pJ, area um^2) of one MAC: an `a_bits` x `w_bits` multiplier (the nearest
        tabulated one at or above both, else the widest) and an `acc_bits` adder."""
        fits = [m for m in self.multiplier if m[0] >= a_bits and m[1] >= w_bits]
        m = min(fits, key=lambda r: r[0] * r[1]) if fits else max(self.multiplier)
        add = min(self.adder, key=lambda r: (r[0] < acc_bits, abs(r[0] - acc_bits)))
        scale = acc_bits / add[0]  # adders scale linearly with width (Aladdin)
        return m[2] + add[1] * scale, m[3] + add[2] * scale


def _interp(x: float, points: list[tuple[float, float]], *, extend_below: bool) -> float:
    """y at `x` on the log-log polyline through `points` (ascending x). Below the first point:
    y * x / x0 when `extend_below` (area per bit kept), else y0 (energy per bit kept); above
    the last, the last segment's slope."""
    pts = sorted(points)
    if x <= pts[0][0]:
        return pts[0][1] * (x / pts[0][0] if extend_below else 1.0)
    k = next((i for i in range(1, len(pts)) if x <= pts[i][0]), len(pts) - 1)
    (x0, y0), (x1, y1) = pts[k - 1], pts[k]
    t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
    return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))


def build_components(s: ComponentsSchema, path: Path) -> ComponentTable:
    """The frozen `ComponentTable` of a validated file."""
    widths: dict[int, list[tuple[float, float, float]]] = {}
    for r in s.sram:
        widths.setdefault(r.width_bits, []).append(
            (float(r.capacity_bits), r.read_pj / r.width_bits, r.area_um2)
        )
    return ComponentTable(
        name=s.name,
        technology_nm=s.technology_nm,
        sram_tool=s.sram_tool,
        mac_tool=s.mac_tool,
        sram=tuple((w, tuple(sorted(rows))) for w, rows in sorted(widths.items())),
        multiplier=tuple((m.a_bits, m.w_bits, m.energy_pj, m.area_um2) for m in s.multiplier),
        adder=tuple(sorted((a.bits, a.energy_pj, a.area_um2) for a in s.adder)),
        source=str(path),
    )


@cache
def load_components(path: Path) -> ComponentTable:
    """Load and validate a component table; `HardwareModelError` naming the file and field."""
    data = load_mapping(path, HardwareModelError, "component table")
    return build_components(validate(ComponentsSchema, data, path, HardwareModelError), path)
