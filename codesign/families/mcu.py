"""The MCU family: RISC-V cores such as MPIC, priced by a MACs-per-cycle table (`cost/mpic.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codesign.core.types import (
    Configuration,
    LayerCost,
    MapperSettings,
    NetworkCost,
    Objective,
    Precision,
)
from codesign.cost import mpic
from codesign.cost.tables import CostTables
from codesign.hw.family import HardwareFamily, register_family
from codesign.hw.model import McuHardware
from codesign.hw.schema import McuSchema
from codesign.workload.graph import LayerGraph


def build(s: McuSchema, path: Path) -> McuHardware:
    """The frozen `McuHardware` of a validated file."""
    act = tuple(s.bits.activation)
    wts = tuple(s.bits.weight)
    table = tuple(tuple(0.0 if w == 0 else float(s.macs_per_cycle[a][w]) for w in wts) for a in act)
    return McuHardware(
        name=s.name,
        clock_hz=s.clock_hz,
        power_w=s.power_mw * 1e-3,
        l1_bytes=s.memory.l1_bytes,
        l2_bytes=s.memory.l2_bytes,
        act_bits=act,
        weight_bits=wts,
        macs_per_cycle=table,
        other_ops_per_cycle=s.other_ops_per_cycle,
        source=str(path),
        description=s.description,
    )


class McuCostModel:
    """Cycles from the MACs-per-cycle table, energy = power x time, memory = packed weights
    plus live activations (see `codesign.cost.mpic`). One fixed kernel per layer: no mapping
    choice, so the search has no mapping gene."""

    def build_tables(self, graph: LayerGraph, hw: McuHardware) -> CostTables:
        """Every quantizable layer at every (activation, weight) bit pair."""
        return mpic.build_tables(graph, hw)

    def price(
        self,
        graph: LayerGraph,
        hw: McuHardware,
        configuration: Configuration | Mapping[str, Precision],
    ) -> NetworkCost:
        """Exact cost with per-channel weight bits (0 = pruned channel)."""
        return mpic.price_network(graph, hw, configuration)

    def describe(self, layer_cost: LayerCost) -> str:
        """'3 L1 tiles'-style summary of how the kernel runs the layer ('' without one)."""
        m = layer_cost.mapping
        if m is None:
            return ""
        n = int(m.get("l1_tiles", 1))
        return f"{n} L1 tile{'s' if n != 1 else ''}"


def _model(mapper: MapperSettings | None, cache_dir: Path | None) -> Any:
    return McuCostModel()


register_family(
    HardwareFamily(
        name="mcu",
        schema=McuSchema,
        build=build,
        cost_model=_model,
        default_objectives=(Objective.LATENCY, Objective.MEMORY),
        description="MCU / RISC-V core with a MACs-per-cycle table per (activation, weight) bits",
    )
)
