"""Stage 4, `select_front`: the search's Pareto front, every point priced exactly."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from codesign.core.candidates import Candidate, Front, uniform_bits
from codesign.core.errors import CodesignError
from codesign.core.pareto import pareto_mask
from codesign.core.types import Configuration, Objective
from codesign.families import price_network
from codesign.search.archive import pareto_order
from codesign.search.space import make_space
from codesign.stages.context import Context
from codesign.stages.search import SearchResult


def baseline_ids(ctx: Context, archive: Any, F: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Archive ids of the uniform baselines (every layer and channel at b bits, for each b the
    hardware offers for both weights and activations) the search evaluated: per b, the
    feasible ones no other of that b dominates (one per mapping at most)."""
    space = make_space(
        ctx.tables, [s.K for s in ctx.graph.quantizable], ctx.config.granularity, ctx.ranking
    )
    seeds = space.decode(space.seeds())
    by_bits: dict[int, list[int]] = {}
    for j, key in enumerate(seeds.keys()):
        cid, bits = archive.id_of(key), uniform_bits(seeds.precisions(j))
        if cid is not None and feasible[cid] and bits is not None:
            by_bits.setdefault(bits, []).append(cid)
    out: list[int] = []
    for cids in by_bits.values():
        ids = np.asarray(sorted(set(cids)))
        out += ids[pareto_mask(F[ids], np.ones(len(ids), dtype=bool))].tolist()
    return np.asarray(sorted(out), dtype=np.int64)


def select_front(ctx: Context, result: SearchResult) -> Front:
    """The feasible non-dominated candidates of the search's archive (of its fine-tuned ones
    under `--rescore-per-gen`), priced exactly per layer, sorted by the first cost objective;
    with `baselines` (and an accuracy axis), the uniform baselines the search evaluated are
    added (`baseline_ids`), for `rescore` to fine-tune beside the front.
    `CodesignError` when no candidate fits the memory."""
    archive, has_estimate, inloop = result.archive, result.has_estimate, result.inloop
    F, feasible = archive.objectives(), archive.feasible()
    tables = ctx.tables
    if not feasible.any():
        smallest = archive.metric("peak_kb").min()
        raise CodesignError(
            f"no evaluated configuration of {ctx.workload.name} fits in {ctx.hardware.name}'s "
            f"memory ({tables.memory_limit_bytes / 1e3:.0f} kB); smallest peak seen: "
            f"{smallest:.1f} kB"
        )
    objs = ctx.objectives
    cost_cols = [i for i, o in enumerate(objs) if o != Objective.ACCURACY_LOSS]
    other = [i for i in range(len(objs)) if i not in cost_cols]
    if inloop is not None:  # the front of measured points only
        F = inloop.current_objectives()
        ids = pareto_order(F, inloop.front_ids(), cost_cols + other)
    else:
        front_ids = np.flatnonzero(pareto_mask(F, feasible))
        if ctx.config.baselines and has_estimate and ctx.config.finetune_top > 0:
            front_ids = np.union1d(front_ids, baseline_ids(ctx, archive, F, feasible))
        ids = pareto_order(F, front_ids, cost_cols + other)
    batch = archive.batch(ids)
    loss = archive.metric("est_accuracy_loss_pp")
    cands = []
    for j, cid in enumerate(ids):
        cid = int(cid)
        precisions = batch.precisions(j)
        mapping = batch.mapping_of(j)
        config = Configuration.over(tables.layer_names, precisions, mapping)
        point = batch.hardware_of(j)
        hw = ctx.hardware if point is None else ctx.hw_space.hardware(point)
        c = Candidate(
            id=cid,
            generation=archive.generation(cid),
            strategy=archive.strategy(cid),
            precisions=precisions,
            mapping=mapping,
            cost=price_network(ctx.graph, hw, config, ctx.config.mapper, ctx.cache_dir),
            est_accuracy_loss=float(loss[cid]) if has_estimate else None,
        )
        if point is not None:
            space = ctx.hw_space
            c = replace(
                c,
                hardware=tuple(space.point_values(point).items()),
                area_mm2=space.area_mm2(point),
                hardware_doc=space.family.to_doc(hw),
            )
        if inloop is not None:
            c = c.with_rescore(inloop.rescore_of(cid))
        cands.append(c)
    return Front(
        workload=ctx.workload.name,
        hardware=ctx.hardware.name,
        family=ctx.family.name,
        objectives=objs,
        layers=tables.layer_names,
        candidates=tuple(cands),
        fp_accuracy=ctx.fp_accuracy,
        memory_limit_bytes=tables.memory_limit_bytes,
        evaluated=len(archive),
        strategy=ctx.config.strategy,
    )
