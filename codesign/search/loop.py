"""The search loop: ask the strategy, decode, score, archive, tell, checkpoint; until done.

The caller owns the loop (pymoo's ask / tell), so a search can stop after any generation and
resume from its checkpoint with exactly the state it had.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from codesign.core.candidates import CandidateBatch, Scores, objective_values
from codesign.core.protocols import AccuracyEstimator, SearchSpace, SearchStrategy
from codesign.core.types import Objective
from codesign.cost.tables import CostTables
from codesign.search.archive import Archive
from codesign.search.checkpoint import Checkpointer, set_rng_state

SEVERED = 1e12  # violation (bytes) added to a candidate whose pruning cuts the network


def scorer(
    tables: CostTables,
    objectives: Sequence[Objective],
    estimator: AccuracyEstimator | None = None,
    max_area_mm2: float | None = None,
) -> Callable[[CandidateBatch], Scores]:
    """The function that scores a batch: the cost tables' gathers, the estimator's loss (NaN
    without one), the objectives in display units and the memory limit's violation (plus
    `SEVERED` where pruning leaves some layer no channel). With `max_area_mm2` (a hardware
    space), a point larger than it violates too (by its excess in um^2; a candidate is
    feasible when both violations are <= 0)."""

    def score(batch: CandidateBatch) -> Scores:
        costs = tables.score(batch)
        loss = estimator.loss(batch) if estimator is not None else np.full(len(batch), np.nan)
        F = objective_values(objectives, costs, loss)
        violation = costs.peak_bytes - tables.memory_limit_bytes
        if costs.severed is not None:  # a layer with no channel left: never feasible
            violation = np.where(costs.severed, np.maximum(violation, 0) + SEVERED, violation)
        if costs.unsupported is not None:  # bits the hardware point's PEs do not run
            violation = np.where(costs.unsupported, np.maximum(violation, 0) + SEVERED, violation)
        if max_area_mm2 is not None and costs.area_mm2 is not None:
            violation = np.maximum(violation, (costs.area_mm2 - max_area_mm2) * 1e6)
        return Scores(F, violation, costs, loss)

    return score


class GenerationHook(Protocol):
    """Runs after each generation is scored and archived, before the strategy is told: it may
    measure some candidates (fine-tunes) and return the scores the strategy should learn."""

    def __call__(self, generation: int, ids: np.ndarray, scores: Scores) -> Scores:
        """`ids`: each row's archive id; returns `scores`, changed or not."""
        ...

    def state(self) -> Any:
        """A picklable snapshot (checkpointed with the strategy)."""
        ...

    def restore(self, state: Any) -> None:
        """Go back to a `state()` snapshot."""
        ...


def run_search(
    space: SearchSpace,
    strategy: SearchStrategy,
    evaluate: Callable[[CandidateBatch], Scores],
    archive: Archive,
    n_obj: int,
    seed: int,
    *,
    checkpointer: Checkpointer | None = None,
    resume: dict[str, Any] | None = None,
    on_generation: Callable[[int], None] | None = None,
    hook: GenerationHook | None = None,
) -> Archive:
    """Run `strategy` over `space` until it is done; returns the filled `archive`.

    With `resume` (a checkpoint), the strategy, the archive and the global RNG states are
    restored first and the search goes on from the generation after the checkpoint.
    `on_generation(n)` is called after each generation with the number completed; `hook` (see
    `GenerationHook`) after each generation is archived, and its state is checkpointed too.
    """
    strategy.setup(space, n_obj, seed)
    if resume is not None:
        strategy.restore(resume["strategy"])
        archive.restore(resume["archive"])
        set_rng_state(resume["rng"])
        if hook is not None and "hook" in resume:
            hook.restore(resume["hook"])
        if on_generation is not None:
            on_generation(strategy.generation)
    while (X := strategy.ask()) is not None:
        generation = strategy.generation
        batch = space.decode(X)
        scores = evaluate(batch)
        ids = archive.record(generation, strategy.name, batch, scores)
        if hook is not None:
            scores = hook(generation, ids, scores)
        strategy.tell(X, scores.objectives, scores.violation)
        if checkpointer is not None:
            checkpointer.save(
                {
                    "generation": strategy.generation,
                    "strategy": strategy.state(),
                    "archive": archive.state(),
                    "done": False,
                    **({} if hook is None else {"hook": hook.state()}),
                }
            )
        if on_generation is not None:
            on_generation(strategy.generation)
    if checkpointer is not None:
        checkpointer.save(
            {
                "generation": strategy.generation,
                "strategy": strategy.state(),
                "archive": archive.state(),
                "done": True,
                **({} if hook is None else {"hook": hook.state()}),
            }
        )
    return archive
