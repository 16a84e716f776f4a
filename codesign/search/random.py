"""Random search: the baseline every other strategy is measured against.

Each generation draws `pop_size` genomes uniformly from the space (the first generation starts
with every uniform configuration, as NSGA-II's does, so both see the same seeds); genomes seen
before are drawn again, so every generation scores `pop_size` new candidates while the space
has them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from codesign.core.protocols import SearchSpace
from codesign.search.registry import register_strategy


@register_strategy("random")
class RandomStrategy:
    """Uniform random genomes, `pop_size` per generation, for `generations` generations."""

    name = "random"

    def __init__(
        self, pop_size: int = 64, generations: int = 40, granularity: str = "layer"
    ) -> None:
        self.pop_size = pop_size
        self.generations = generations
        self.granularity = granularity
        self._gen = 0
        self._seen: set[bytes] = set()
        self._rng = np.random.default_rng(0)
        self._space: SearchSpace | None = None

    @classmethod
    def from_context(cls, ctx: Any, config: Any) -> RandomStrategy:
        """The strategy of a run (`config`: population, generations, granularity)."""
        return cls(
            pop_size=config.pop_size,
            generations=config.generations,
            granularity=config.granularity,
        )

    def setup(self, space: SearchSpace, n_obj: int, seed: int) -> None:
        """Prepare a random search over `space` with `seed`."""
        self._space = space
        self._rng = np.random.default_rng(seed)
        self._gen = 0
        self._seen = set()

    @property
    def generation(self) -> int:
        """Generations asked and told so far."""
        return self._gen

    def _key(self, x: np.ndarray) -> bytes:
        return np.rint(x).astype(np.int64).tobytes()

    def ask(self) -> np.ndarray | None:
        """`pop_size` genomes not drawn before (fewer when the space runs out)."""
        if self._gen >= self.generations:
            return None
        sp = self._space
        rows: list[np.ndarray] = []
        if self._gen == 0:
            rows = [x for x in sp.seeds()[: self.pop_size]]
            for x in rows:
                self._seen.add(self._key(x))
        tries = 0
        while len(rows) < self.pop_size and tries < 50:
            tries += 1
            for x in sp.random(2 * self.pop_size, self._rng):
                k = self._key(x)
                if k not in self._seen:
                    self._seen.add(k)
                    rows.append(x)
                    if len(rows) == self.pop_size:
                        break
        return np.asarray(rows, dtype=np.float64).reshape(-1, sp.n_var) if rows else None

    def tell(self, X: np.ndarray, F: np.ndarray, G: np.ndarray) -> None:
        """Random search learns nothing from scores; counts the generation."""
        self._gen += 1

    def state(self) -> dict[str, Any]:
        """Generation, the genomes drawn so far and the random generator's state."""
        return {
            "generation": self._gen,
            "seen": set(self._seen),
            "rng": self._rng.bit_generator.state,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `state()` snapshot."""
        self._gen = int(state["generation"])
        self._seen = set(state["seen"])
        self._rng = np.random.default_rng()
        self._rng.bit_generator.state = state["rng"]
