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
from codesign.cost.spatial import Traffic, evaluate, fill_cuts, traffic
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


def bypass_options(hw: SpatialHardware) -> tuple[np.ndarray, np.ndarray]:
    """(the bypasses a mapping may choose, those it must take), each [6] bool over per-PE W,
    I, O then global-buffer W, I, O."""
    rf, glb, _ = hw.memories
    forced = np.array(rf.must_bypass + glb.must_bypass)
    return np.array(rf.may_bypass + glb.may_bypass) & ~forced, forced


def _price(
    spec: LayerSpec, hw: SpatialHardware, m: Mappings, a: int, w: int, tr: Traffic
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(energy, cycles, utilisation, valid) of mappings `m` at (a, w); invalid ones cost inf."""
    c = evaluate(spec, hw, m, a, w, tr)
    inf = np.where(c.valid, 0.0, np.inf)
    return c.energy_pj + inf, c.cycles + inf, c.utilization, c.valid


def _best_fresh(score: np.ndarray, k: int, expanded: np.ndarray) -> np.ndarray:
    """Indices of the `k` lowest finite scores whose mapping is not `expanded` (bool mask)."""
    score = np.where(expanded, np.inf, score)
    n = min(len(score), k)
    top = np.argpartition(score, n - 1)[:n] if n < len(score) else np.arange(len(score))
    return top[np.isfinite(score[top])]


def _key(
    spec: LayerSpec, hw: SpatialHardware, samples: int, seed: int, rounds: int, top: int
) -> tuple:
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
        rounds,
        top,
    )


def map_layer(
    spec: LayerSpec,
    hw: SpatialHardware,
    samples: int = 1000,
    seed: int = 0,
    refine_rounds: int = 3,
    refine_top: int = 4,
) -> LayerMappings:
    """The kept mappings of `spec` on `hw` at every precision pair (cached).

    Raises `ConfigError` naming the layer when no sampled mapping fits the memories.
    """
    key = _key(spec, hw, samples, seed, refine_rounds, refine_top)
    if key in _CACHE:
        return _CACHE[key]
    bounds, _, _, _ = loop_bounds(spec)
    precisions = [(a, w) for a in hw.act_bits for w in hw.weight_bits]
    bypass_ok, forced = bypass_options(hw)
    m = sample_mappings(bounds, hw.rows, hw.cols, hw.dataflows, samples, seed, bypass_ok, forced)
    # each sample also with its tiles grown as far as the memories hold them, at the widest
    # and at the narrowest precision (narrow operands fit larger tiles)
    m = concat(
        m.take(np.flatnonzero(m.cuts().any(axis=1))),  # uncut samples: the grown ones dominate
        fill_cuts(spec, hw, m, max(hw.act_bits), max(hw.weight_bits)),
        fill_cuts(spec, hw, m, min(hw.act_bits), min(b for b in hw.weight_bits if b > 0)),
    )
    tr = traffic(spec, m, hw.input_registers)
    costs = [_price(spec, hw, m, a, w, tr) for a, w in precisions]
    # local search (a beam): from the best not yet expanded mappings at each precision and
    # objective, move one loop factor to an adjacent level, change a loop order or an
    # operand's cut; only the new mappings are priced
    expanded = np.zeros(len(m), dtype=bool)
    for _ in range(refine_rounds):
        picked = [
            _best_fresh(score, refine_top, expanded)
            for e, cy, _, _ in costs
            for score in (e, cy, e * cy)
        ]
        # and the best energy of every dataflow at each end of the precision range, so
        # that each spatial unrolling gets refined, not only the leading one
        for e, _, _, _ in (costs[0], costs[-1]):
            for d in range(len(m.names)):
                picked.append(_best_fresh(np.where(m.dataflow == d, e, np.inf), 1, expanded))
        seeds = np.unique(np.concatenate(picked))
        if len(seeds) == 0:
            break
        expanded[seeds] = True
        nb = neighbours(m, seeds, bypass_ok)
        if len(nb) == 0:
            break
        tr_nb = traffic(spec, nb, hw.input_registers)
        m = concat(m, nb)
        expanded = np.concatenate([expanded, np.zeros(len(nb), dtype=bool)])
        costs = [
            tuple(
                np.concatenate([old, new]) for old, new in zip(c, _price(spec, hw, nb, a, w, tr_nb))
            )
            for c, (a, w) in zip(costs, precisions)
        ]
    A, W, k = len(hw.act_bits), len(hw.weight_bits), len(KEEP)
    energy = np.empty((A, W, k))
    cycles = np.empty((A, W, k))
    util = np.empty((A, W, k))
    index = np.empty((A, W, k), dtype=np.intp)
    for (a, w), (e, cy, ut, valid) in zip(precisions, costs):
        ai, wi = hw.act_bits.index(a), hw.weight_bits.index(w)
        if not valid.any():
            raise ConfigError(
                f"layer '{spec.name}': no mapping fits {hw.name}'s memories at a{a}/w{w}"
            )
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
        energy[ai, wi] = e[picks]
        cycles[ai, wi] = cy[picks]
        util[ai, wi] = ut[picks]
    out = LayerMappings(m, energy, cycles, index, util)
    _CACHE[key] = out
    return out
