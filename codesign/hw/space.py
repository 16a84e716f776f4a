"""Hardware spaces: a base hardware file and the sizing parameters a search may vary.

A space file (``hw_models/spaces/*.yaml``) names its base hardware (a path relative to the
space file, or a bundled name), the component table its costs scale by, and per parameter
the values allowed::

    version: 1
    name: eyeriss-space
    base: ../eyeriss.yaml
    components: ../components/cacti_45nm.yaml
    parameters:
      pe_rows: [8, 12, 16]
      glb_bits: [524288, 884736, 1048576]

It loads like a hardware file (duplicate and unknown keys refused; one error naming the file
and the field) into a frozen `HardwareSpace`, whose points are made from the base by its
family's `vary` (`dataclasses.replace`, never a temporary file). The parameter names a family
accepts are its `parameters` (the spatial family's: PE rows and columns, register-file
capacity per operand, global-buffer capacity and bandwidth, DRAM bandwidth).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from codesign.core.errors import CodesignError, HardwareModelError
from codesign.core.yamlio import load_mapping, validate
from codesign.hw.components import DEFAULT_COMPONENTS, ComponentTable, load_components
from codesign.hw.family import HardwareFamily, family_of
from codesign.hw.load import bundled_hw_dir, load_hardware, resolve_hw_path
from codesign.hw.schema import StrictModel, plausible

Value = plausible(1e-6, 1e18)


class HwSpaceSchema(StrictModel):
    """A hardware space file."""

    version: int = Field(description="space file format version (1)")
    name: str = Field(min_length=1, description="the space's name")
    description: str = Field("", description="free text")
    base: str = Field(
        min_length=1,
        description="the base hardware file (relative to this file) or a bundled name",
    )
    components: str = Field(
        DEFAULT_COMPONENTS,
        description="the component table (relative to this file, else bundled) that "
        "memory energy and area scale by",
    )
    parameters: dict[str, list[Value]] = Field(  # type: ignore[valid-type]
        min_length=1, description="sizing parameter -> its allowed values"
    )

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != 1:
            raise ValueError(f"expected 1, got {v}")
        return v

    @field_validator("parameters")
    @classmethod
    def _values(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"{k}: give at least one value")
            if len(set(vals)) != len(vals):
                raise ValueError(f"{k}: values repeat: {vals}")
        return v


@dataclass(frozen=True)
class HardwareSpace:
    """A base hardware and, per parameter (`names`), its allowed values (`values`, sorted
    ascending); a point is one value index per parameter. `hardware(point)` is the domain
    object of a point, `area_mm2(point)` its area by the component table."""

    name: str
    base: Any
    base_path: Path
    family: HardwareFamily
    components: ComponentTable
    names: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]
    source: Path
    _points: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def size(self) -> int:
        """How many hardware points the space holds."""
        return math.prod(len(v) for v in self.values)

    def point_values(self, point: tuple[int, ...]) -> dict[str, float]:
        """Parameter name -> value at `point`."""
        return {n: self.values[i][p] for i, (n, p) in enumerate(zip(self.names, point))}

    def hardware(self, point: tuple[int, ...]) -> Any:
        """The hardware at `point` (built once, then remembered)."""
        point = tuple(int(p) for p in point)
        if point not in self._points:
            hw = self.family.vary(self.base, self.point_values(point), self.components)
            self._points[point] = hw
        return self._points[point]

    def area_mm2(self, point: tuple[int, ...]) -> float:
        """Area (mm^2) of the hardware at `point`."""
        return float(self.family.area_mm2(self.hardware(point), self.components))

    @property
    def base_point(self) -> tuple[int, ...]:
        """The point nearest the base hardware: per parameter the index of the base's value,
        or of the value nearest it (in log) where the base's is not allowed."""
        cur = self.family.sizes(self.base)
        out = []
        for n, vals in zip(self.names, self.values):
            b = cur[n]
            out.append(min(range(len(vals)), key=lambda i: abs(math.log(vals[i] / b))))
        return tuple(out)

    @property
    def base_area_mm2(self) -> float:
        """Area (mm^2) of the base hardware itself."""
        return float(self.family.area_mm2(self.base, self.components))


def _relative(spec: str, folder: Path) -> Path:
    """`spec` relative to the space file's folder when it exists there, else as given (a
    bundled name or a path from the working directory)."""
    p = folder / spec
    return p if p.exists() else Path(spec)


def load_hw_space(path: str | Path) -> HardwareSpace:
    """Load and validate a hardware space; `HardwareModelError` with one message naming the
    file and the offending field (a parameter the base family does not size, a value the
    base hardware refuses)."""
    path = resolve_space_path(path)
    data = load_mapping(path, HardwareModelError, "hardware space file")
    s = validate(HwSpaceSchema, data, path, HardwareModelError)
    base_path = resolve_hw_path(_relative(s.base, path.parent))
    try:
        base = load_hardware(base_path)
    except HardwareModelError as exc:
        raise HardwareModelError(f"{path}: field 'base': {exc}") from None
    family = family_of(base)
    if family.vary is None or family.parameters is None:
        raise HardwareModelError(
            f"{path}: field 'base': {base.name} ({family.name} family) cannot be sized: no "
            "family but spatial has sizing parameters"
        )
    comp_path = _relative(s.components, path.parent)
    if not comp_path.exists():
        comp_path = bundled_hw_dir() / s.components
    try:
        comps = load_components(comp_path)
    except HardwareModelError as exc:
        raise HardwareModelError(f"{path}: field 'components': {exc}") from None
    for name, vals in s.parameters.items():
        if name not in family.parameters:
            known = ", ".join(family.parameters)
            raise HardwareModelError(
                f"{path}: field 'parameters.{name}': unknown parameter; {family.name} "
                f"hardware sizes {known}"
            )
        for v in vals:
            if name in ("pe_rows", "pe_cols") and not float(v).is_integer():
                raise HardwareModelError(
                    f"{path}: field 'parameters.{name}': {v} is not a whole number"
                )
            try:
                family.vary(base, {name: v}, comps)
            except CodesignError as exc:
                raise HardwareModelError(f"{path}: field 'parameters.{name}': {exc}") from None
    names = tuple(s.parameters)
    return HardwareSpace(
        name=s.name,
        base=base,
        base_path=base_path,
        family=family,
        components=comps,
        names=names,
        values=tuple(tuple(sorted(float(v) for v in s.parameters[n])) for n in names),
        source=path,
    )


def resolve_space_path(spec: str | Path) -> Path:
    """A path as given, or a bundled space name (``eyeriss_space``) under hw_models/spaces."""
    p = Path(spec)
    if p.exists() or p.suffix in (".yaml", ".yml") or "/" in str(spec):
        return p
    candidate = bundled_hw_dir() / "spaces" / f"{spec}.yaml"
    return candidate if candidate.is_file() else p
