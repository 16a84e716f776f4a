"""Hardware families: the one extension point that says what a family of chips is.

A family registers, in one place, its YAML schema (pydantic), how a validated file becomes the
frozen domain object, its cost model (one `price(graph, hw, configuration)` for every family),
its default cost objectives and how a layer's mapping is shown. The built-in families register
in `codesign/families/`; adding one is one new file there (and a YAML under hw_models/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from codesign.core.protocols import CostModel
from codesign.core.registry import Registry
from codesign.core.types import LayerCost, MapperSettings, Objective


def _no_tag(layer_cost: LayerCost) -> str:
    return ""


def _no_details(layer_cost: LayerCost) -> dict[str, str]:
    return {}


@dataclass(frozen=True)
class HardwareFamily:
    """Everything codesign knows about one family of hardware.

    `build(schema, path)` turns a validated file into the frozen domain object (whose
    `family` attribute is this family's name); `cost_model(mapper, cache_dir)` returns the
    family's `CostModel` with its settings bound (families without a mapper ignore them);
    `default_objectives` are the cost objectives a run searches when the user names none;
    `mapping_legend` explains the letters the CLI prints for each layer's mapping choice
    ("" when the family has no mapping choice). `describe(layer_cost)` is a short tag of how a
    priced layer runs ('RS K16xOY14', '3 L1 tiles'; '' without one) and `details(layer_cost)`
    the same in named columns for the report's mapping table (empty: no table). The report,
    the exporters and the CLI ask the family; none tests its name.

    A family whose chips can be sized (`--hw-space`) also gives `parameters` (the names a
    hardware space may vary, each with its description), `sizes(hw)` (their values on `hw`,
    NaN where it has no such part), `vary(hw, values, components)` (the
    domain object with those parameter values, energies rescaled by the component table;
    `hw` itself when every value is the base's), `area_mm2(hw, components)` (the area of
    its modelled compute and memories) and `to_doc(hw)` (a hardware file's document that
    loads back into an equal object).
    """

    name: str
    schema: type[BaseModel]
    build: Callable[[Any, Path], Any]
    cost_model: Callable[[MapperSettings | None, Path | None], CostModel]
    default_objectives: tuple[Objective, ...]
    description: str = ""
    mapping_legend: str = ""
    mapping_letters: str = ""
    describe: Callable[[LayerCost], str] = _no_tag
    details: Callable[[LayerCost], dict[str, str]] = _no_details
    parameters: dict[str, str] | None = None
    sizes: Callable[[Any], dict[str, float]] | None = None
    vary: Callable[[Any, dict[str, float], Any], Any] | None = None
    area_mm2: Callable[[Any, Any], float] | None = None
    to_doc: Callable[[Any], dict[str, Any]] | None = None


FAMILIES: Registry[HardwareFamily] = Registry("hardware family", builtin="codesign.families")


def register_family(family: HardwareFamily) -> HardwareFamily:
    """Register `family` under its name; returns it."""
    FAMILIES.add(family.name, family)
    return family


def family_of(hw: Any) -> HardwareFamily:
    """The registered family of a hardware domain object (by its `family` attribute)."""
    return FAMILIES.get(str(getattr(hw, "family", None)), "hardware family")


def cost_model(
    hw: Any, mapper: MapperSettings | None = None, cache_dir: Path | None = None
) -> CostModel:
    """The cost model of `hw`'s family, with the mapper settings and cache folder bound."""
    return family_of(hw).cost_model(mapper, cache_dir)
