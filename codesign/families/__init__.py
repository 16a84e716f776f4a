"""The built-in hardware families, one file each (`mcu`, `spatial`), and the two entry points
every stage prices through: `build_tables` and `price_network`, dispatched on the family.

Adding a family: a new file here that builds a `codesign.hw.family.HardwareFamily` and calls
`register_family`, plus an import line below (see `codesign/cost/README.md`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codesign.core.types import Configuration, MapperSettings, NetworkCost, Precision
from codesign.cost.tables import CostTables
from codesign.families import mcu, spatial  # noqa: F401  (register the built-in families)
from codesign.hw.family import cost_model


def build_tables(
    graph: Any,
    hw: Any,
    mapper: MapperSettings | None = None,
    cache_dir: Path | None = None,
) -> CostTables:
    """`CostTables` of `graph` on `hw`, by `hw`'s family's cost model."""
    return cost_model(hw, mapper, cache_dir).build_tables(graph, hw)


def price_network(
    graph: Any,
    hw: Any,
    configuration: Configuration | Mapping[str, Precision],
    mapper: MapperSettings | None = None,
    cache_dir: Path | None = None,
) -> NetworkCost:
    """Exact cost of one configuration on `hw`, by `hw`'s family's cost model."""
    return cost_model(hw, mapper, cache_dir).price(graph, hw, configuration)


__all__ = ["build_tables", "price_network"]
