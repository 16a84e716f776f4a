"""Cost models: price a layer graph on a hardware model, per layer and precision."""

from codesign.cost.mpic import NetworkCost, build_tables, price_network
from codesign.cost.tables import CostTables, NetworkScores

__all__ = ["CostTables", "NetworkCost", "NetworkScores", "build_tables", "price_network"]
