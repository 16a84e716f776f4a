"""What every hardware file shares (pydantic, unknown keys forbidden): the format version, a
strict base model and the bit-widths a chip supports. Each family's own schema lives in its
file under `codesign/families/`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

SCHEMA_VERSION = 1
MAX_BITS = 16


def plausible(lo: float, hi: float) -> object:
    """A float type admitting finite values in [lo, hi] only: a hardware number outside that
    range (inf, NaN, 1e-300 MACs per cycle, 1e308 pJ) is a typo, not a chip."""
    return Annotated[float, Field(ge=lo, le=hi, allow_inf_nan=False)]


# The ranges every hardware number must lie in, wide enough for any chip from a sensor node to
# a datacentre accelerator, narrow enough that no figure derived from them over- or underflows.
ClockHz = plausible(1e3, 1e12)  # 1 kHz .. 1 THz
PowerMw = plausible(1e-6, 1e7)  # 1 nW .. 10 kW
PerCycle = plausible(1e-6, 1e9)  # MACs, operations or bits per cycle
EnergyPj = plausible(1e-9, 1e9)  # per access, per bit or per MAC
CapacityBits = plausible(1.0, 1e18)  # one bit .. 125 PB


class StrictModel(BaseModel):
    """A frozen pydantic model that refuses unknown keys (a misspelt field is an error) and
    infinite or NaN numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class BitsSchema(StrictModel):
    """Bit-widths the hardware supports; weight bits may include 0 (a pruned channel)."""

    activation: list[int] = Field(
        min_length=1, description="activation bit-widths the kernels or PEs run"
    )
    weight: list[int] = Field(
        min_length=1, description="weight bit-widths; 0 = a pruned output channel (MCUs only)"
    )

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


class HardwareSchema(StrictModel):
    """The fields every hardware file has: the format version, a name, a description and the
    clock; each family's schema adds its own (and its `family` literal)."""

    version: Literal[1] = Field(description="hardware file format version")
    name: str = Field(min_length=1, description="the chip's name, as reports show it")
    description: str = Field("", description="free text")
    clock_hz: ClockHz = Field(description="clock frequency in Hz")  # type: ignore[valid-type]
