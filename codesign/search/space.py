"""Search spaces: the genome a strategy varies and how it decodes into candidates.

`LayerwiseSpace` (one weight and one activation bit-width per layer, and on hardware with a
mapping choice one mapping per layer): genome ``[w_0 .. w_{L-1}, a_0 .. a_{L-1}, m_0 .. m_{L-1}]``.
Bit genes are ordered integers (indices into the sorted bit-widths the tables hold); mapping
genes are unordered choices among the kept mappings (`choice`), which the operators treat as
categories, never as numbers to interpolate.
"""

from __future__ import annotations

import numpy as np

from codesign.core.candidates import CandidateBatch
from codesign.cost.tables import CostTables


class LayerwiseSpace:
    """Per-layer weight bits, activation bits and (where the hardware offers one) mapping."""

    name = "layer"

    def __init__(self, tables: CostTables, channels: tuple[int, ...]) -> None:
        self.tables = tables
        self.channels = tuple(channels)
        L = tables.num_layers
        self.num_layers = L
        self.has_mapping = tables.num_mappings > 1
        xu = [len(tables.weight_bits) - 1] * L + [len(tables.act_bits) - 1] * L
        choice = [False] * (2 * L)
        if self.has_mapping:
            xu += [tables.num_mappings - 1] * L
            choice += [True] * L
        self.xu = np.array(xu, dtype=np.int64)
        self.xl = np.zeros_like(self.xu)
        self.choice = np.array(choice, dtype=bool)
        self.n_var = len(xu)
        self._w = np.asarray(tables.weight_bits, dtype=np.int64)
        self._a = np.asarray(tables.act_bits, dtype=np.int64)

    def decode(self, X: np.ndarray) -> CandidateBatch:
        """Candidates from genomes ``X[P, n_var]`` (rounded to integers)."""
        X = np.rint(np.asarray(X, dtype=np.float64)).astype(np.intp)
        L = self.num_layers
        m = X[:, 2 * L : 3 * L] if self.has_mapping else None
        return CandidateBatch.layerwise(
            self.tables.layer_names, self.channels, self._a[X[:, L : 2 * L]], self._w[X[:, :L]], m
        )

    def seeds(self) -> np.ndarray:
        """One genome per (weight bits, act bits[, mapping]) with every layer alike."""
        L = self.num_layers
        maps = range(self.tables.num_mappings) if self.has_mapping else [None]
        rows = [
            [wi] * L + [ai] * L + ([] if mi is None else [mi] * L)
            for mi in maps
            for wi in range(len(self.tables.weight_bits))
            for ai in range(len(self.tables.act_bits))
        ]
        return np.asarray(rows, dtype=np.float64).reshape(-1, self.n_var)

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` genomes drawn uniformly from the space."""
        return rng.integers(0, self.xu + 1, size=(n, self.n_var)).astype(np.float64)
