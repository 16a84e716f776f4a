"""NSGA-II search: determinism, Pareto filtering, the memory constraint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from codesign.config import parse_objectives
from codesign.core.errors import CodesignError
from codesign.core.pareto import pareto_mask
from codesign.core.types import Objective
from codesign.families import build_tables
from codesign.search import STRATEGIES, Archive, LayerwiseSpace, run_search
from codesign.search.checkpoint import rng_state
from codesign.search.loop import scorer
from codesign.search.nsga2 import NSGA2Strategy

from ..conftest import MPIC


def test_pareto_mask_by_hand():
    F = np.array([[1, 5], [2, 2], [3, 3], [5, 1], [1, 5], [0, 9]], dtype=float)
    feasible = np.array([True, True, True, True, True, False])
    mask = pareto_mask(F, feasible)
    assert mask[[1, 3]].all() and not mask[2] and not mask[5]
    # rows 0 and 4 tie: the front keeps the first evaluated only
    assert mask[0] and not mask[4]


def _search(tables, seed, strategy="nsga2", objectives=(Objective.LATENCY, Objective.MEMORY)):
    space = LayerwiseSpace(tables, tuple(1 for _ in tables.layer_names))
    archive = Archive(tables.layer_names, space.has_mapping)
    strat = STRATEGIES.get(strategy)(pop_size=20, generations=6)
    run_search(space, strat, scorer(tables, objectives), archive, len(objectives), seed)
    return archive


def _front(archive):
    F, feas = archive.objectives(), archive.feasible()
    m = pareto_mask(F, feas)
    b = archive.batch(np.flatnonzero(m))
    return {tuple(r) for r in np.hstack([b.layer_weight_bits(), b.act_bits])}, F[m]


def test_same_seed_same_front(mpic, graphs):
    tables = build_tables(graphs("resnet8"), mpic)
    a, fa = _front(_search(tables, 7))
    b, fb = _front(_search(tables, 7))
    assert a == b
    assert np.array_equal(np.sort(fa, axis=0), np.sort(fb, axis=0))


def test_search_respects_memory_limit(mpic, graphs):
    g = graphs("mobilenet_v1_025")
    loose = build_tables(g, mpic)
    L = loose.num_layers
    w8a8 = loose.score_indices(np.full((1, L), 2), np.full((1, L), 2)).peak_bytes[0]
    limit = int(0.6 * w8a8)
    tables = build_tables(g, dataclasses.replace(mpic, l2_bytes=limit))
    archive = _search(tables, 0, objectives=(Objective.LATENCY, Objective.ENERGY))
    feas = archive.feasible()
    assert feas.any() and (~feas).any()
    m = pareto_mask(archive.objectives(), feas)
    assert (archive.metric("peak_kb")[m] * 1e3 <= limit + 1e-6).all()


@pytest.mark.parametrize("strategy", ["nsga2", "random"])
def test_strategy_stops_and_resumes_exactly(mpic, graphs, strategy):
    """A search stopped after generation 3 and restored from its state ends exactly as an
    uninterrupted one (same archive, in the same order)."""
    import pickle

    tables = build_tables(graphs("resnet8"), mpic)
    whole = _search(tables, 4, strategy)
    space = LayerwiseSpace(tables, tuple(1 for _ in tables.layer_names))
    score = scorer(tables, (Objective.LATENCY, Objective.MEMORY))

    class Stop(Exception):
        pass

    saved = []

    class Keep:
        def save(self, state):
            saved.append(pickle.dumps({**state, "rng": rng_state()}))
            if state["generation"] == 3:
                raise Stop

    with pytest.raises(Stop):
        run_search(
            space,
            STRATEGIES.get(strategy)(pop_size=20, generations=6),
            score,
            Archive(tables.layer_names, False),
            2,
            4,
            checkpointer=Keep(),
        )
    resumed = run_search(
        space,
        STRATEGIES.get(strategy)(pop_size=20, generations=6),
        score,
        Archive(tables.layer_names, False),
        2,
        4,
        resume=pickle.loads(saved[-1]),
    )
    assert len(resumed) == len(whole)
    assert np.array_equal(resumed.objectives(), whole.objectives())
    assert np.array_equal(
        resumed.batch(range(len(whole))).act_bits, whole.batch(range(len(whole))).act_bits
    )


def test_random_strategy_draws_new_candidates_each_generation(mpic, graphs):
    tables = build_tables(graphs("resnet8"), mpic)
    archive = _search(tables, 1, "random")
    assert len(archive) == 20 * 6  # no candidate drawn twice
    gens = [archive.generation(i) for i in range(len(archive))]
    assert gens == sorted(gens) and set(gens) == set(range(6))
    assert {archive.strategy(i) for i in range(len(archive))} == {"random"}


def test_mapping_genes_are_choices_not_numbers():
    from pymoo.core.problem import Problem

    from codesign.search.nsga2 import TypedCrossover, TypedMutation

    choice = np.array([False, False, True, True])
    prob = Problem(n_var=4, n_obj=1, xl=np.zeros(4), xu=np.array([2, 2, 3, 3]))
    rng = np.random.default_rng(0)
    X = np.array([[[0, 0, 0, 0]] * 50, [[2, 2, 3, 3]] * 50], dtype=float)
    Q = TypedCrossover(choice, eta=15)._do(prob, X, random_state=rng)
    # a choice gene of a child is one parent's value, never a number between them
    assert set(np.unique(Q[:, :, 2:])) <= {0.0, 3.0}
    M = TypedMutation(choice, eta=20)._do(prob, np.full((2000, 4), 1.0), random_state=rng)
    changed = M[:, 2:] != 1.0
    assert changed.any()
    # random reset: any other choice, equally likely (1 -> 0, 2, 3), not a small step
    assert set(np.unique(M[:, 2:][changed])) == {0.0, 2.0, 3.0}


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
    fronts = [[(c.weight_bits, c.act_bits, c.latency_ms) for c in r.front.candidates] for r in runs]
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


class _NineGenomes:
    """The space of one quantizable layer on MPIC: 3 weight x 3 activation bit-widths."""

    n_var = 2
    xl = np.zeros(2)
    xu = np.array([2.0, 2.0])
    choice = np.zeros(2, dtype=bool)

    def seeds(self) -> np.ndarray:
        return np.array([[i, i] for i in range(3)], dtype=np.float64)


def test_a_space_smaller_than_the_population_ends_the_search_instead_of_failing():
    s = NSGA2Strategy(pop_size=16, generations=6)
    s.setup(_NineGenomes(), 2, seed=0)
    seen: set[tuple[float, ...]] = set()
    while (X := s.ask()) is not None:
        seen |= {tuple(x) for x in X}
        s.tell(X, np.c_[X.sum(1), -X[:, 0]], np.zeros(len(X)))
    # every genome was visited once duplicates left nothing new to ask
    assert len(seen) == 9 and s.generation < 6
