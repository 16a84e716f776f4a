"""The mapper: for each (layer, activation bits, weight bits), the few best mappings.

Mappings are sampled once per layer (`sample_mappings`: each dataflow's greedy unrolling of
the array, and for a share of the samples its exact and sub-array unrollings), their tiles
grown to fill the memories (weights first, and again outputs first), their element traffic
computed once (it does not depend on bit-widths), then priced at every precision pair with
array operations. A beam then refines the best (`neighbours`, including moves of loop factors
into and out of the array); a mapping reached twice is priced once. Kept per precision: the
best mapping for energy (the fastest of those within `ENERGY_TIE`, 0.5 %, of the least
energy), for latency, for energy-delay product, and the best energy-delay product of
another dataflow; these become the values of the search's per-layer mapping gene.

Results are cached on disk (``<cache_dir>/mappings/<hash>.npz``) under a hash of the loop nest,
the hardware and the `MapperSettings`, so a second run on the same network maps nothing again;
a small in-process LRU keeps the most recent layers. The mapper imports the loop-nest model
(`codesign.cost.spatial`), never the network cost tables.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from codesign.core.errors import ConfigError
from codesign.core.types import LayerSpec, MapperSettings
from codesign.cost.nest import Mappings, loop_bounds
from codesign.cost.spatial import (
    I_,
    O_,
    W_,
    Traffic,
    evaluate,
    fill_cuts,
    fill_cuts_many,
    traffic,
)
from codesign.mapping.space import concat, neighbours, sample_mappings

if TYPE_CHECKING:  # the family's domain object; the family imports this module
    from codesign.families.spatial import SpatialHardware

KEEP = ("min energy", "min latency", "min EDP", "other dataflow")
# the "min energy" pick is the fastest mapping within this share of the least energy: an
# energy-optimal mapping often leaves most of the array idle (MobileNetV2's 32 -> 16 channel
# 1x1 layer at 112 x 112: 3,211 k cycles on a few PEs at 163.72 uJ, against 75 k cycles at
# 164.13 uJ, 0.25 % more), a trade no user would make; and the fastest within
# `ENERGY_TIE_FAST` when it runs at least `FAST_GAIN` times faster than that
ENERGY_TIE = 0.005
ENERGY_TIE_FAST = 0.02
FAST_GAIN = 2.0


@dataclass(frozen=True)
class LayerMappings:
    """Best mappings of one layer: ``energy_pj[A, W, k]``, ``cycles[A, W, k]`` and
    ``index[A, W, k]`` into `mappings` (the sampled set), k over `KEEP`."""

    mappings: Mappings
    energy_pj: np.ndarray
    cycles: np.ndarray
    index: np.ndarray
    utilization: np.ndarray


_LRU: OrderedDict[str, LayerMappings] = OrderedDict()
_LRU_SIZE = 256
FORMAT_VERSION = 8  # bump when the mapper's results change for the same inputs


class MapperStats:
    """Counts of layers mapped, found on disk and found in memory since the process started."""

    mapped = 0
    from_disk = 0
    from_memory = 0


def clear_memory_cache() -> None:
    """Forget the in-process LRU (the disk cache stays)."""
    _LRU.clear()


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


def _least(score: np.ndarray, then: np.ndarray, tie: float = 1e-9) -> int:
    """Index of the least `score`, near-ties (within the share `tie` of the least) broken by
    the least `then`, and ties of `then` (within 1e-9) by the least `score`: of the mappings
    at the MAC floor, the one that spends the least energy; of the mappings within
    `ENERGY_TIE` of the least energy, the fastest."""
    best = score.min()
    if not np.isfinite(best):
        return 0
    tied = np.flatnonzero(score <= best + abs(best) * tie)
    fast = then[tied].min()
    tied = tied[then[tied] <= fast + abs(fast) * 1e-9]
    return int(tied[np.argmin(score[tied])])


def _min_energy(e: np.ndarray, cy: np.ndarray) -> int:
    """Index of the kept "min energy" mapping of energies `e` and cycles `cy`: the fastest
    of those within `ENERGY_TIE` of the least energy, unless one within `ENERGY_TIE_FAST`
    runs `FAST_GAIN` times faster still (then the fastest of those)."""
    pick = _least(e, cy, ENERGY_TIE)
    fast = _least(e, cy, ENERGY_TIE_FAST)
    return fast if cy[fast] * FAST_GAIN <= cy[pick] else pick


def _best_fresh(score: np.ndarray, k: int, expanded: np.ndarray) -> np.ndarray:
    """Indices of the `k` lowest finite scores whose mapping is not `expanded` (bool mask)."""
    score = np.where(expanded, np.inf, score)
    n = min(len(score), k)
    top = np.argpartition(score, n - 1)[:n] if n < len(score) else np.arange(len(score))
    return top[np.isfinite(score[top])]


# odd multipliers of a 64-bit hash of a mapping's integers (spatial 6, temporal 18, orders 3,
# dataflow 1, cuts 6, bypasses 6); a collision would only drop one mapping from the search
_HASH = np.random.default_rng(12345).integers(1, 2**62, 40, dtype=np.int64) * 2 + 1


class _Seen:
    """Hashes (`_hashes`) of the mappings priced so far, sorted."""

    def __init__(self) -> None:
        self.hashes = np.zeros(0, dtype=np.int64)


def _hashes(m: Mappings) -> np.ndarray:
    """[M] a 64-bit hash of each mapping's integers: a dot product per field with odd
    multipliers, wrapping modulo 2**64."""
    n = len(m)
    parts = (
        m.spatial,
        m.temporal.reshape(n, -1),
        m.order,
        m.dataflow[:, None],
        m.cuts(),
        m.bypasses(),
    )
    ints = np.concatenate([p.astype(np.int64, copy=False) for p in parts], axis=1)
    with np.errstate(over="ignore"):
        return ints @ _HASH[: ints.shape[1]]


def _new_rows(m: Mappings, seen: _Seen) -> np.ndarray:
    """Indices (ascending) of the mappings of `m` not seen before, the first of each
    distinct one; `seen` is updated. The beam reaches many mappings from several seeds,
    and the fills often leave a sample as it was."""
    h = _hashes(m)
    uniq, first = np.unique(h, return_index=True)
    fresh = ~np.isin(uniq, seen.hashes, assume_unique=True)
    seen.hashes = np.union1d(seen.hashes, uniq[fresh])
    return np.sort(first[fresh]).astype(np.intp)


def mapping_key(spec: LayerSpec, hw: SpatialHardware, settings: MapperSettings) -> str:
    """Content hash (hex, 20 chars) of what a layer's kept mappings depend on: the loop nest
    (not the layer's name), the hardware's every field, the mapper settings and version."""
    nest = {
        f: getattr(spec, f)
        for f in ("kind", "N", "K", "C", "OY", "OX", "FY", "FX", "stride", "padding", "groups")
    }
    nest["input_shape"] = spec.input_shape
    hw_doc = dataclasses.asdict(hw)
    hw_doc.pop("source", None)
    hw_doc.pop("description", None)
    doc = {
        "nest": nest,
        "hw": hw_doc,
        "settings": dataclasses.asdict(settings),
        "version": FORMAT_VERSION,
    }
    text = json.dumps(doc, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_ARRAYS = ("spatial", "temporal", "order", "dataflow", "cut", "bypass")


def _save(path: Path, lm: LayerMappings) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    m = lm.mappings
    arrays = {f"m_{k}": getattr(m, k) for k in _ARRAYS}
    arrays["m_cut"], arrays["m_bypass"] = m.cuts(), m.bypasses()
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        names=np.array(m.names),
        energy_pj=lm.energy_pj,
        cycles=lm.cycles,
        index=lm.index,
        utilization=lm.utilization,
        **arrays,
    )
    os.replace(tmp, path)


def _load(path: Path) -> LayerMappings | None:
    try:
        with np.load(path) as z:
            m = Mappings(
                *(z[f"m_{k}"] for k in ("spatial", "temporal", "order", "dataflow")),
                tuple(str(n) for n in z["names"]),
                z["m_cut"],
                z["m_bypass"],
            )
            return LayerMappings(m, z["energy_pj"], z["cycles"], z["index"], z["utilization"])
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - truncated, foreign or damaged: set aside, map again
        aside = path.with_name(path.name + ".corrupt")
        path.replace(aside)
        warnings.warn(
            f"{path}: unreadable cached mapping ({type(exc).__name__}: {exc}); set aside as "
            f"{aside.name} and mapped again",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def map_layer(
    spec: LayerSpec,
    hw: SpatialHardware,
    settings: MapperSettings | None = None,
    cache_dir: Path | None = None,
) -> LayerMappings:
    """The kept mappings of `spec` on `hw` at every precision pair.

    Looked up in memory, then under `cache_dir` (when given), else mapped and stored there.
    Raises `ConfigError` naming the layer when no sampled mapping fits the memories.
    """
    settings = settings or MapperSettings()
    key = mapping_key(spec, hw, settings)
    if key in _LRU:
        _LRU.move_to_end(key)
        MapperStats.from_memory += 1
        return _LRU[key]
    path = None if cache_dir is None else Path(cache_dir) / "mappings" / f"{key}.npz"
    found = _load(path) if path is not None and path.exists() else None
    if found is not None:
        MapperStats.from_disk += 1
        return _remember(key, found)
    out = _map(spec, hw, settings)
    MapperStats.mapped += 1
    if path is not None:
        _save(path, out)
    return _remember(key, out)


def _remember(key: str, lm: LayerMappings) -> LayerMappings:
    _LRU[key] = lm
    while len(_LRU) > _LRU_SIZE:
        _LRU.popitem(last=False)
    return lm


def _map(spec: LayerSpec, hw: SpatialHardware, settings: MapperSettings) -> LayerMappings:
    samples, seed = settings.samples, settings.seed
    refine_rounds, refine_top = settings.refine_rounds, settings.refine_top
    bounds, _, _, dw = loop_bounds(spec)
    precisions = [(a, w) for a in hw.act_bits for w in hw.weight_bits]
    bypass_ok, forced = bypass_options(hw)
    widest = (max(hw.act_bits), max(hw.weight_bits))
    groups = dw and settings.group_unrolling
    m = sample_mappings(
        bounds,
        hw.rows,
        hw.cols,
        hw.dataflows,
        samples,
        seed,
        bypass_ok=bypass_ok,
        bypass_forced=forced,
        groups=groups,
        other_unrollings=settings.other_unrollings,
        partial=settings.partial_unrollings,
    )
    array = (hw.rows, hw.cols) if settings.other_unrollings > 0 else None
    # each sample also with its tiles grown as far as the memories hold them, at the widest
    # and at the narrowest precision (narrow operands fit larger tiles)
    narrowest = (min(hw.act_bits), min(b for b in hw.weight_bits if b > 0))
    m = concat(
        m.take(np.flatnonzero(m.cuts().any(axis=1))),  # uncut samples: the grown ones dominate
        *fill_cuts_many(
            spec,
            hw,
            m,
            [
                (*widest, (W_, I_, O_)),
                (*narrowest, (W_, I_, O_)),
                # and with the buffer filled with outputs first: a layer whose partial sums
                # all fit keeps them across its input-channel loop (each is written to DRAM
                # once)
                (*widest, (O_, I_, W_)),
            ],
        ),
    )
    seen = _Seen()
    m = m.take(_new_rows(m, seen))
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
        # and the best energy and the best latency of every dataflow at each end of the
        # precision range, so that each spatial unrolling gets refined for both, not only
        # the leading one
        for e, cy, _, _ in (costs[0], costs[-1]):
            for d in range(len(m.names)):
                for score in (e, cy):
                    picked.append(
                        _best_fresh(np.where(m.dataflow == d, score, np.inf), 1, expanded)
                    )
        seeds = np.unique(np.concatenate(picked))
        if len(seeds) == 0:
            break
        expanded[seeds] = True
        nb = neighbours(m, seeds, bypass_ok, groups, array, bounds)
        if len(nb) == 0:
            break
        # each neighbour also with the buffer's room given to outputs first: a factor moved
        # between levels changes which operand the buffer should keep whole
        nb = nb.take(np.sort(np.unique(_hashes(nb), return_index=True)[1]))  # each once
        nb = concat(nb, fill_cuts(spec, hw, nb, *widest, (O_, I_, W_)))
        nb = nb.take(_new_rows(nb, seen))  # only mappings not priced before
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
        picks = [_min_energy(e, cy), _least(cy, e), best_edp, fourth]
        index[ai, wi] = picks
        energy[ai, wi] = e[picks]
        cycles[ai, wi] = cy[picks]
        util[ai, wi] = ut[picks]
    return LayerMappings(m, energy, cycles, index, util)
