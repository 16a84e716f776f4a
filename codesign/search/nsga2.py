"""NSGA-II (pymoo) over per-layer (weight bits, activation bits), scored in whole populations.

Genome: ``[w_0 .. w_{L-1}, a_0 .. a_{L-1}]``, integer indices into the hardware's searchable
weight and activation bit-widths. Objectives are chosen by the caller among `Objective`; the
memory limit (weights + peak live activations <= L2) is an inequality constraint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.callback import Callback
from pymoo.core.problem import Problem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.optimize import minimize
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from codesign.core.protocols import AccuracyEstimator
from codesign.core.types import Objective
from codesign.cost.tables import CostTables, NetworkScores


@dataclass(frozen=True)
class Evaluated:
    """A batch of evaluated genomes: indices, objective values and raw costs (one row each)."""

    generation: int
    weight_idx: np.ndarray  # [P, L]
    act_idx: np.ndarray  # [P, L]
    objectives: np.ndarray  # [P, M] in Objective units (pp, ms, uJ, kB)
    violation: np.ndarray  # [P] peak bytes over the limit (<= 0 is feasible)
    scores: NetworkScores
    accuracy_loss: np.ndarray  # [P] estimated pp (nan without a proxy)
    map_idx: np.ndarray | None = None  # [P, L] kept-mapping choice (None: no mapping gene)


def objective_values(
    objectives: Sequence[Objective],
    scores: NetworkScores,
    accuracy_loss: np.ndarray,
) -> np.ndarray:
    """Matrix [P, M] of objective values in display units (pp, ms, uJ, kB)."""
    cols = []
    for o in objectives:
        if o == Objective.ACCURACY_LOSS:
            cols.append(accuracy_loss)
        elif o == Objective.LATENCY:
            cols.append(scores.latency_s * 1e3)
        elif o == Objective.ENERGY:
            cols.append(scores.energy_j * 1e6)
        elif o == Objective.MEMORY:
            cols.append(scores.peak_bytes / 1e3)
    return np.stack(cols, axis=1)


class BitWidthProblem(Problem):
    """pymoo problem: P genomes in, P x M objectives and P x 1 constraint out, vectorised."""

    def __init__(
        self,
        tables: CostTables,
        objectives: Sequence[Objective],
        proxy: AccuracyEstimator | None,
        on_evaluate: Callable[[Evaluated], None] | None = None,
    ) -> None:
        if Objective.ACCURACY_LOSS in objectives and proxy is None:
            raise ValueError("the accuracy_loss objective needs an accuracy proxy")
        L = tables.num_layers
        xu = [len(tables.weight_bits) - 1] * L + [len(tables.act_bits) - 1] * L
        self.has_mapping = tables.num_mappings > 1
        if self.has_mapping:  # one mapping gene per layer: which kept mapping it runs
            xu += [tables.num_mappings - 1] * L
        xu = np.array(xu)
        super().__init__(
            n_var=len(xu), n_obj=len(objectives), n_ieq_constr=1, xl=0, xu=xu, vtype=int
        )
        self.tables = tables
        self.objectives = list(objectives)
        self.proxy = proxy
        self.on_evaluate = on_evaluate
        self.generation = 0

    def split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(weight_idx, act_idx, map_idx or None) integer arrays [P, L] from genomes."""
        X = np.rint(np.asarray(X, dtype=np.float64)).astype(np.intp)
        L = self.tables.num_layers
        m = X[:, 2 * L : 3 * L] if self.has_mapping else None
        return X[:, :L], X[:, L : 2 * L], m

    def _evaluate(self, X, out, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        w, a, m = self.split(X)
        scores = self.tables.score(a, w, m)
        acc = self.proxy.loss(a, w) if self.proxy is not None else np.full(len(w), np.nan)
        F = objective_values(self.objectives, scores, acc)
        G = (scores.peak_bytes - self.tables.memory_limit_bytes)[:, None]
        out["F"] = F
        out["G"] = G
        if self.on_evaluate is not None:
            self.on_evaluate(Evaluated(self.generation, w, a, F, G[:, 0], scores, acc, m))


class _GenerationCounter(Callback):
    def __init__(
        self, problem: BitWidthProblem, on_generation: Callable[[int], None] | None
    ) -> None:
        super().__init__()
        self.problem = problem
        self.on_generation = on_generation

    def notify(self, algorithm) -> None:  # noqa: ANN001
        self.problem.generation = algorithm.n_gen
        if self.on_generation is not None:
            self.on_generation(algorithm.n_gen)


def uniform_genomes(tables: CostTables) -> np.ndarray:
    """One genome per (weight bits, act bits) pair with every layer at that pair."""
    L = tables.num_layers
    maps = range(tables.num_mappings) if tables.num_mappings > 1 else [None]
    rows = [
        [wi] * L + [ai] * L + ([] if mi is None else [mi] * L)
        for mi in maps
        for wi in range(len(tables.weight_bits))
        for ai in range(len(tables.act_bits))
    ]
    return np.asarray(rows, dtype=np.float64)


def run_nsga2(
    problem: BitWidthProblem,
    pop_size: int,
    generations: int,
    seed: int,
    on_generation: Callable[[int], None] | None = None,
) -> None:
    """Run NSGA-II; the initial population holds every uniform configuration plus random ones.

    Results reach the caller through the problem's `on_evaluate` hook (every evaluated batch).
    """
    rng = np.random.default_rng(seed)
    seeds = uniform_genomes(problem.tables)[:pop_size]
    rand = rng.integers(0, problem.xu + 1, size=(pop_size - len(seeds), problem.n_var))
    X0 = np.vstack([seeds, rand.astype(np.float64)])
    algorithm = NSGA2(
        pop_size=pop_size,
        sampling=X0,
        crossover=SBX(prob=0.9, eta=15, vtype=float, repair=RoundingRepair()),
        mutation=PM(eta=20, vtype=float, repair=RoundingRepair()),
        eliminate_duplicates=True,
    )
    minimize(
        problem,
        algorithm,
        ("n_gen", generations),
        seed=seed,
        callback=_GenerationCounter(problem, on_generation),
        verbose=False,
        copy_algorithm=False,
    )


def pareto_mask(F: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Boolean mask of the feasible, non-dominated rows of F (duplicates kept once)."""
    mask = np.zeros(len(F), dtype=bool)
    idx = np.flatnonzero(feasible)
    if len(idx) == 0:
        return mask
    front = idx[NonDominatedSorting().do(F[idx], only_non_dominated_front=True)]
    # equal objective vectors do not dominate each other: keep the first evaluated of each
    front = np.sort(front)
    _, first = np.unique(F[front], axis=0, return_index=True)
    mask[front[first]] = True
    return mask
