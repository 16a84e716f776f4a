"""NSGA-II search: determinism, Pareto filtering, the memory constraint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codesign.core.errors import CodesignError
from codesign.core.types import Objective
from codesign.cost import build_tables
from codesign.explore import parse_objectives
from codesign.search.nsga2 import BitWidthProblem, pareto_mask, run_nsga2

from ..conftest import MPIC


def test_pareto_mask_by_hand():
    F = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [1, 5], [0, 9]], dtype=float)
    feasible = np.array([True, True, True, True, True, False])
    mask = pareto_mask(F, feasible)
    assert mask[[1, 3]].all() and not mask[2] and not mask[5]
    # rows 0 and 4 tie: the front keeps the first evaluated only
    assert mask[0] and not mask[4]


def _search(tables, seed):
    seen = []
    problem = BitWidthProblem(
        tables, [Objective.LATENCY, Objective.MEMORY], None, on_evaluate=lambda ev: seen.append(ev)
    )
    run_nsga2(problem, pop_size=20, generations=6, seed=seed)
    w = np.concatenate([e.weight_idx for e in seen])
    a = np.concatenate([e.act_idx for e in seen])
    F = np.concatenate([e.objectives for e in seen])
    feas = np.concatenate([e.violation for e in seen]) <= 0
    m = pareto_mask(F, feas)
    return {tuple(r) for r in np.hstack([w[m], a[m]])}, F[m]


def test_same_seed_same_front(mpic, graphs):
    tables = build_tables(graphs("resnet8"), mpic)
    a, fa = _search(tables, 7)
    b, fb = _search(tables, 7)
    assert a == b
    assert np.array_equal(np.sort(fa, axis=0), np.sort(fb, axis=0))


def test_search_respects_memory_limit(mpic, graphs):
    g = graphs("mobilenet_v1_025")
    loose = build_tables(g, mpic)
    L = loose.num_layers
    w8a8 = loose.score(np.full((1, L), 2), np.full((1, L), 2)).peak_bytes[0]
    limit = int(0.6 * w8a8)
    tables = build_tables(g, dataclasses.replace(mpic, l2_bytes=limit))
    seen = []
    problem = BitWidthProblem(tables, [Objective.LATENCY, Objective.ENERGY], None, seen.append)
    run_nsga2(problem, pop_size=20, generations=5, seed=0)
    F = np.concatenate([e.objectives for e in seen])
    viol = np.concatenate([e.violation for e in seen])
    peak = np.concatenate([e.scores.peak_bytes for e in seen])
    assert (viol > 0).any() and (viol <= 0).any()
    m = pareto_mask(F, viol <= 0)
    assert (peak[m] <= limit).all()


def test_explore_determinism_end_to_end(results_dir, run_explore):
    runs = [
        run_explore(
            estimator="proxy",
            seed=11,
            pop_size=16,
            generations=3,
            finetune_top=0,
            out=results_dir / f"det{i}",
        )
        for i in range(2)
    ]
    fronts = [[(p["weight_bits"], p["act_bits"], p["latency_ms"]) for p in r.front] for r in runs]
    assert fronts[0] == fronts[1] and len(fronts[0]) >= 2


def test_objective_parsing():
    assert parse_objectives("accuracy,latency") == (Objective.ACCURACY_LOSS, Objective.LATENCY)
    with pytest.raises(CodesignError, match="unknown objective 'speed'"):
        parse_objectives("latency,speed")
    with pytest.raises(CodesignError, match="at least two"):
        parse_objectives("latency")


def test_impossible_memory_is_one_error(results_dir, tmp_path, run_explore):
    text = MPIC.read_text().replace("l2_bytes: 524288", "l2_bytes: 1024")
    hw = tmp_path / "tiny.yaml"
    hw.write_text(text)
    with pytest.raises(CodesignError, match="fits in MPIC's memory"):
        run_explore(
            estimator="proxy",
            hw=hw,
            pop_size=8,
            generations=1,
            finetune_top=0,
            out=tmp_path / "r",
        )
