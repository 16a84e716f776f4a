"""NSGA-II (pymoo) through its ask / tell interface, so the caller owns the loop and can
checkpoint between generations and resume.

Typed genes: bit genes are ordered integers, crossed by SBX and mutated by polynomial mutation,
then rounded (as before this module was a strategy); mapping genes are choices among the kept
mappings, crossed uniformly (each child takes a parent's choice) and mutated by random reset.
The initial population holds every uniform configuration of the space, then random genomes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.problem import Problem
from pymoo.operators.crossover.sbx import SBX
from pymoo.operators.mutation.pm import PM
from pymoo.operators.repair.rounding import RoundingRepair
from pymoo.problems.static import StaticProblem

from codesign.core.protocols import SearchSpace
from codesign.search.registry import register_strategy


class _Bounds(Problem):
    """The genome's bounds for pymoo; evaluation happens outside (ask / tell)."""

    def __init__(self, space: SearchSpace, n_obj: int) -> None:
        super().__init__(
            n_var=space.n_var, n_obj=n_obj, n_ieq_constr=1, xl=space.xl, xu=space.xu, vtype=int
        )


class TypedCrossover(SBX):
    """SBX on ordered genes; uniform crossover on the choice genes (`choice` mask)."""

    def __init__(self, choice: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choice = np.asarray(choice, dtype=bool)

    def _do(self, problem, X, *args, random_state=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        Q = super()._do(problem, X, *args, random_state=random_state, **kwargs)
        if self.choice.any():
            cols = np.flatnonzero(self.choice)
            swap = random_state.random((X.shape[1], len(cols))) < 0.5
            a, b = X[0][:, cols], X[1][:, cols]
            Q[0][:, cols] = np.where(swap, b, a)
            Q[1][:, cols] = np.where(swap, a, b)
        return Q


class TypedMutation(PM):
    """Polynomial mutation on ordered genes; random reset of the choice genes, each with the
    per-gene probability PM uses (1 / genome length)."""

    def __init__(self, choice: np.ndarray, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.choice = np.asarray(choice, dtype=bool)

    def _do(self, problem, X, params=None, *args, random_state=None, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        Xp = super()._do(problem, X, params, *args, random_state=random_state, **kwargs)
        if self.choice.any():
            cols = np.flatnonzero(self.choice)
            Xp[:, cols] = X[:, cols]
            prob = 1.0 / problem.n_var
            hit = random_state.random((len(X), len(cols))) < prob
            span = (problem.xu[cols] - problem.xl[cols]).astype(np.int64)
            # a new value among the others: old + 1 .. old + span, modulo the range
            step = random_state.integers(1, np.maximum(span, 1) + 1, size=hit.shape)
            new = (X[:, cols] - problem.xl[cols] + step) % (span + 1) + problem.xl[cols]
            Xp[:, cols] = np.where(hit & (span > 0), new, X[:, cols])
        return Xp


@register_strategy("nsga2")
class NSGA2Strategy:
    """NSGA-II with `pop_size` genomes per generation for `generations` generations.

    The first generation is every uniform configuration of the space (as many as fit), then
    genomes drawn at random with `seed`; duplicates are eliminated, as pymoo does.
    """

    name = "nsga2"

    def __init__(
        self, pop_size: int = 64, generations: int = 40, granularity: str = "layer"
    ) -> None:
        self.pop_size = pop_size
        self.generations = generations
        self.granularity = granularity
        self._algo: NSGA2 | None = None
        self._problem: _Bounds | None = None
        self._pending = None
        self._gen = 0

    @classmethod
    def from_context(cls, ctx: Any, config: Any) -> NSGA2Strategy:
        """The strategy of a run (`config`: population, generations, granularity)."""
        return cls(
            pop_size=config.pop_size,
            generations=config.generations,
            granularity=config.granularity,
        )

    def setup(self, space: SearchSpace, n_obj: int, seed: int) -> None:
        """Prepare NSGA-II over `space` (same `seed`, same search)."""
        rng = np.random.default_rng(seed)
        seeds = space.seeds()[: self.pop_size]
        rest = self.pop_size - len(seeds)
        initial = getattr(space, "initial", None)  # a space's own first draws, where it has them
        if initial is not None:
            rand = initial(rest, rng)
        else:
            rand = rng.integers(0, space.xu + 1, size=(rest, space.n_var)).astype(np.float64)
        X0 = np.vstack([seeds, rand])
        self._algo = NSGA2(
            pop_size=self.pop_size,
            sampling=X0,
            crossover=TypedCrossover(
                space.choice, prob=0.9, eta=15, vtype=float, repair=RoundingRepair()
            ),
            mutation=TypedMutation(space.choice, eta=20, vtype=float, repair=RoundingRepair()),
            eliminate_duplicates=True,
        )
        self._problem = _Bounds(space, n_obj)
        self._algo.setup(self._problem, termination=("n_gen", self.generations), seed=seed)
        self._gen = 0

    @property
    def generation(self) -> int:
        """Generations asked and told so far."""
        return self._gen

    def ask(self) -> np.ndarray | None:
        """The next generation's genomes (None after the last generation)."""
        if self._gen >= self.generations or not self._algo.has_next():
            return None
        pending = self._algo.ask()
        if pending is None or len(pending) == 0:
            # every offspring was a duplicate: a space this small (one quantizable layer has
            # nine genomes on MPIC) has been searched exhaustively, so the search is done
            return None
        self._pending = pending
        return np.asarray(pending.get("X"), dtype=np.float64)

    def tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        """Scores of the genomes from the last `ask`: ``F[P, M]``, ``G[P]`` (<= 0 feasible)."""
        static = StaticProblem(self._problem, F=np.asarray(F), G=np.asarray(G).reshape(-1, 1))
        Evaluator().eval(static, self._pending)
        self._algo.tell(infills=self._pending)
        self._pending = None
        self._gen += 1

    def state(self) -> dict[str, Any]:
        """The algorithm (population, survival state, its random generator) and generation."""
        return {"algorithm": self._algo, "generation": self._gen}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `state()` snapshot."""
        self._algo = state["algorithm"]
        self._problem = self._algo.problem
        self._gen = int(state["generation"])
        self._pending = None
