"""Cost models: the loop-nest model of spatial arrays (`spatial`), the MCU model (`mpic`) and
the per-layer cost tables a search gathers from (`tables`).

Which model prices which hardware is decided by the hardware family registry
(`codesign.hw.family`); `codesign.families.price_network` and `build_tables` dispatch on it.
"""

from __future__ import annotations

from codesign.core.candidates import NetworkScores
from codesign.core.types import NetworkCost
from codesign.cost.tables import CostTables

__all__ = ["CostTables", "NetworkCost", "NetworkScores"]
