"""Cost models: price a layer graph on a hardware model, per layer, precision and mapping.

One registry maps a hardware family to its model (`MODELS`); `build_tables` and
`price_network` dispatch on ``hw.family``.
"""

from __future__ import annotations

from types import ModuleType

from codesign.core.errors import ConfigError
from codesign.cost import mpic, spatial
from codesign.cost.mpic import NetworkCost
from codesign.cost.tables import CostTables, NetworkScores

MODELS: dict[str, ModuleType] = {"mcu": mpic, "spatial": spatial}


def _model(hw: object) -> ModuleType:
    family = getattr(hw, "family", None)
    if family not in MODELS:
        raise ConfigError(f"no cost model for hardware family {family!r}")
    return MODELS[family]


def build_tables(graph, hw) -> CostTables:  # noqa: ANN001
    """`CostTables` of `graph` on `hw` (the family's model)."""
    return _model(hw).build_tables(graph, hw)


def price_network(graph, hw, assignment, mapping=None) -> NetworkCost:  # noqa: ANN001
    """Exact cost of one configuration on `hw`; `mapping` (layer -> kept mapping index) is
    used by spatial accelerators and ignored by MCU cores."""
    if getattr(hw, "family", None) == "spatial":
        return spatial.price_network(graph, hw, assignment, mapping)
    return _model(hw).price_network(graph, hw, assignment)


__all__ = ["MODELS", "CostTables", "NetworkCost", "NetworkScores", "build_tables", "price_network"]
