"""Protocols the stages plug into: one per extension point (see `codesign.core.registry`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from codesign.core.candidates import CandidateBatch
from codesign.core.types import Configuration, NetworkCost, Precision


@runtime_checkable
class AccuracyEstimator(Protocol):
    """Estimates how much accuracy a batch of candidate configurations loses."""

    def loss(self, batch: CandidateBatch) -> np.ndarray:
        """Accuracy loss [P] in percentage points below full precision (NaN: unknown)."""
        ...


class SearchSpace(Protocol):
    """The genome of a search: bounds and gene types, and how genomes become candidates."""

    n_var: int
    xl: np.ndarray
    xu: np.ndarray
    choice: np.ndarray  # [n_var] bool: the gene is an unordered choice, not an ordered integer

    def decode(self, X: np.ndarray) -> CandidateBatch:
        """Candidates from genomes ``X[P, n_var]`` (integers within [xl, xu])."""
        ...

    def seeds(self) -> np.ndarray:
        """Genomes every search should start from (e.g. every uniform configuration).

        A space may also offer ``initial(n, rng)``, the rest of a first population (the
        per-channel spaces mix in layer-wise genomes); without it a search draws uniformly."""
        ...


class SearchStrategy(Protocol):
    """A search you can stop: ask for genomes, tell their scores, save and restore its state.

    `ask()` returns ``X[P, n_var]`` or None when the strategy has finished; `tell(X, F, G)`
    takes objectives ``F[P, M]`` and constraint values ``G[P]`` (<= 0 feasible) of those
    genomes. `state()` is a picklable snapshot that `restore(state)` resumes from exactly.
    A run builds a registered strategy with `from_context(ctx, config)`; `granularity` is the
    genome it searches ('layer', 'channel' or 'group:G').
    """

    name: str
    granularity: str

    @classmethod
    def from_context(cls, ctx: Any, config: Any) -> SearchStrategy:
        """The strategy of a run, from the stages' `Context` and the run's `ExploreConfig`."""
        ...

    def setup(self, space: SearchSpace, n_obj: int, seed: int) -> None:
        """Prepare a new search over `space` with `n_obj` objectives."""
        ...

    def ask(self) -> np.ndarray | None:
        """The next genomes to evaluate, or None when done."""
        ...

    def tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        """Report the scores of the genomes from the last `ask`."""
        ...

    @property
    def generation(self) -> int:
        """Generations completed (asked and told)."""
        ...

    def state(self) -> Any:
        """A picklable snapshot of everything the search needs to go on (RNG included)."""
        ...

    def restore(self, state: Any) -> None:
        """Go back to a snapshot taken by `state()` (after `setup`)."""
        ...


class CostModel(Protocol):
    """Prices networks on one hardware family: tables for the search, exact prices for fronts."""

    def build_tables(self, graph: Any, hw: Any) -> Any:
        """`CostTables` of every quantizable layer at every precision (and kept mapping)."""
        ...

    def price(
        self, graph: Any, hw: Any, configuration: Configuration | Mapping[str, Precision]
    ) -> NetworkCost:
        """Exact cost of one configuration; `ConfigError` naming the layer if it cannot."""
        ...


class Exporter(Protocol):
    """Writes Pareto point `pick` of the run in `run_dir` in one format (registered under
    `--format NAME` in `codesign.exporters.EXPORTERS`); it reads the run's files only."""

    def __call__(self, run_dir: Path, pick: int | None, path: Path | None) -> Any:
        """Write to `path` (a default under the run when None); `pick` is None for a format
        that writes the whole front. Returns an `ExportResult` (paths written, checks)."""
        ...
