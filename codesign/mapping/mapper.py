"""The mapper: for each (layer, activation bits, weight bits), the few best mappings.

Mappings are sampled once per layer (`sample_mappings`), their element traffic computed once
(it does not depend on bit-widths), then priced at every precision pair with array
operations. Kept per precision: the best mapping for energy, for latency, for energy-delay
product, and the best energy-delay product of another dataflow; these become the values of
the search's per-layer mapping gene. Results are cached per (loop nest, hardware).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from codesign.core.errors import ConfigError
from codesign.core.types import LayerSpec
from codesign.cost.spatial import evaluate, traffic
from codesign.hw.model import SpatialHardware
from codesign.mapping.space import Mappings, concat, loop_bounds, neighbours, sample_mappings

KEEP = ("min energy", "min latency", "min EDP", "other dataflow")


@dataclass(frozen=True)
class LayerMappings:
    """Best mappings of one layer: ``energy_pj[A, W, k]``, ``cycles[A, W, k]`` and
    ``index[A, W, k]`` into `mappings` (the sampled set), k over `KEEP`."""

    mappings: Mappings
    energy_pj: np.ndarray
    cycles: np.ndarray
    index: np.ndarray
    utilization: np.ndarray


_CACHE: dict[tuple, LayerMappings] = {}


def _key(spec: LayerSpec, hw: SpatialHardware, samples: int, seed: int, rounds: int) -> tuple:
    return (
        spec.kind,
        spec.K,
        spec.C,
        spec.OY,
        spec.OX,
        spec.FY,
        spec.FX,
        spec.N,
        spec.stride,
        spec.padding,
        spec.input_shape,
        hw,
        samples,
        seed,
    )


def map_layer(
    spec: LayerSpec,
    hw: SpatialHardware,
    samples: int = 2000,
    seed: int = 0,
    refine_rounds: int = 3,
    refine_top: int = 4,
) -> LayerMappings:
    """The kept mappings of `spec` on `hw` at every precision pair (cached).

    Raises `ConfigError` naming the layer when no sampled mapping fits the memories.
    """
    key = _key(spec, hw, samples, seed, refine_rounds)
    if key in _CACHE:
        return _CACHE[key]
    bounds, _, _, _ = loop_bounds(spec)
    m = sample_mappings(bounds, hw.rows, hw.cols, hw.dataflows, samples, seed)
    # local search: from the best mappings at each precision, move one loop factor to an
    # adjacent level or change a loop order; keep going while anything improves
    for _ in range(refine_rounds):
        tr = traffic(spec, m)
        seeds = set()
        for a in hw.act_bits:
            for w in hw.weight_bits:
                c = evaluate(spec, hw, m, a, w, tr)
                inf = np.where(c.valid, 0.0, np.inf)
                for score in (c.energy_pj + inf, c.cycles + inf, (c.energy_pj + inf) * c.cycles):
                    seeds.update(
                        int(i) for i in np.argsort(score)[:refine_top] if np.isfinite(score[i])
                    )
        if not seeds:
            break
        m = concat(m, neighbours(m, np.array(sorted(seeds))))
    tr = traffic(spec, m)
    A, W, k = len(hw.act_bits), len(hw.weight_bits), len(KEEP)
    energy = np.empty((A, W, k))
    cycles = np.empty((A, W, k))
    util = np.empty((A, W, k))
    index = np.empty((A, W, k), dtype=np.intp)
    for ai, a in enumerate(hw.act_bits):
        for wi, w in enumerate(hw.weight_bits):
            c = evaluate(spec, hw, m, a, w, tr)
            if not c.valid.any():
                raise ConfigError(
                    f"layer '{spec.name}': no mapping fits {hw.name}'s memories at a{a}/w{w}"
                )
            inf = np.where(c.valid, 0.0, np.inf)
            e, cy = c.energy_pj + inf, c.cycles + inf
            edp = e * cy
            best_edp = int(np.argmin(edp))
            other = np.where(m.dataflow != m.dataflow[best_edp], edp, np.inf)
            if np.isfinite(other).any():
                fourth = int(np.argmin(other))
            else:  # one dataflow only: the runner-up for energy-delay product
                order = np.argsort(edp)
                ok = len(order) > 1 and np.isfinite(edp[order[1]])
                fourth = int(order[1]) if ok else best_edp
            picks = [int(np.argmin(e)), int(np.argmin(cy)), best_edp, fourth]
            index[ai, wi] = picks
            energy[ai, wi] = c.energy_pj[picks]
            cycles[ai, wi] = c.cycles[picks]
            util[ai, wi] = c.utilization[picks]
    out = LayerMappings(m, energy, cycles, index, util)
    _CACHE[key] = out
    return out
