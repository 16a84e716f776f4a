"""Hardware genes beside bit and mapping genes: one search over bits x mappings x sizing.

`SizedSpace` appends to a layer-wise genome one ordered gene per parameter of a hardware space
(an index into its sorted allowed values), decoded into `CandidateBatch.hardware`.
`SizedTables` scores such a batch: it groups the candidates by hardware point and gathers
each group from that point's `CostTables`, built the first time the point is seen (the mapper
maps each layer once per hardware point; its disk cache keys on the loop nest and every
hardware field, so a point seen in an earlier run maps nothing again either), and adds each
point's area.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from codesign.core.candidates import CandidateBatch, NetworkScores
from codesign.core.types import MapperSettings
from codesign.cost.tables import CostTables
from codesign.families import build_tables
from codesign.hw.space import HardwareSpace
from codesign.search.space import LayerwiseSpace


class SizedTables:
    """Cost tables over a hardware space: `tables(point)` per point (built once), `score`
    of a batch whose `hardware` holds each candidate's point; the layers and the memory limit
    are the base point's, which every point shares."""

    def __init__(
        self,
        space: HardwareSpace,
        graph: Any,
        base_tables: CostTables,
        mapper: MapperSettings | None = None,
        cache_dir: Path | None = None,
        on_new_point: Callable[[int], None] | None = None,
    ) -> None:
        self.space = space
        self.graph = graph
        self.base = base_tables
        self.mapper = mapper
        self.cache_dir = cache_dir
        self.on_new_point = on_new_point
        self._tables: dict[tuple[int, ...], CostTables] = {}
        self._area: dict[tuple[int, ...], float] = {}
        if space.hardware(space.base_point) is space.base:
            self._tables[space.base_point] = base_tables

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The quantizable layers (every point's tables have the same)."""
        return self.base.layer_names

    @property
    def memory_limit_bytes(self) -> float:
        """The off-chip memory limit in bytes (no sizing parameter changes it)."""
        return self.base.memory_limit_bytes

    @property
    def points_built(self) -> int:
        """Hardware points whose tables were built (mapped or read from the mapper cache)."""
        return len(self._tables)

    def tables(self, point: tuple[int, ...]) -> CostTables:
        """The cost tables of the hardware at `point`."""
        point = tuple(int(p) for p in point)
        if point not in self._tables:
            hw = self.space.hardware(point)
            self._tables[point] = build_tables(self.graph, hw, self.mapper, self.cache_dir)
            if self.on_new_point is not None:
                self.on_new_point(len(self._tables))
        return self._tables[point]

    def area_mm2(self, point: tuple[int, ...]) -> float:
        """Area of the hardware at `point`, mm^2."""
        point = tuple(int(p) for p in point)
        if point not in self._area:
            self._area[point] = self.space.area_mm2(point)
        return self._area[point]

    def score(self, batch: CandidateBatch) -> NetworkScores:
        """Scores of `batch`, each candidate on its own hardware point (base without one)."""
        P = len(batch)
        hw = batch.hardware
        if hw is None:
            hw = np.tile(np.asarray(self.space.base_point, dtype=np.int64), (P, 1))
        points, inverse = np.unique(hw, axis=0, return_inverse=True)
        inverse = np.asarray(inverse).reshape(-1)
        fields = ("cycles", "latency_s", "energy_j", "weight_bytes", "peak_act_bytes")
        out = {f: np.zeros(P) for f in fields}
        area = np.zeros(P)
        unsupported = np.zeros(P, dtype=bool)
        for k, pt in enumerate(points):
            rows = np.flatnonzero(inverse == k)
            key = tuple(int(v) for v in pt)
            t = self.tables(key)
            sub, bad = _supported(batch.take(rows), t.act_bits, t.weight_bits)
            s = t.score(sub)
            for f in fields:
                out[f][rows] = getattr(s, f)
            area[rows] = self.area_mm2(key)
            unsupported[rows] = bad
        return NetworkScores(**out, area_mm2=area, unsupported=unsupported)


def _clip(bits: np.ndarray, allowed: tuple[int, ...]) -> np.ndarray:
    """`bits` with every value not in `allowed` replaced by the widest allowed one."""
    return np.where(np.isin(bits, allowed), bits, max(allowed))


def _supported(
    batch: CandidateBatch, act: tuple[int, ...], weight: tuple[int, ...]
) -> tuple[CandidateBatch, np.ndarray]:
    """(`batch` with bits a point does not run replaced by its widest ones, True per candidate
    where some were): a point of narrower PEs (`max_bits`) runs fewer bit-widths."""
    bad = ~np.isin(batch.act_bits, act).all(axis=1)
    for w in batch.weight_bits:
        bad |= ~np.isin(w, weight).all(axis=1)
    if not bad.any():
        return batch, bad
    clipped = replace(
        batch,
        act_bits=_clip(batch.act_bits, act),
        weight_bits=tuple(_clip(w, weight) for w in batch.weight_bits),
    )
    return clipped, bad


class SizedSpace:
    """A layer-wise genome (`LayerwiseSpace`) followed by one ordered gene per hardware-space
    parameter with more than one value: ``[w.., a.., m.., h..]``, each h indexing its
    parameter's sorted values (neighbouring values are neighbouring genes, as SBX wants). A
    parameter with one value is no gene: a space whose parameters all have one value has the
    plain genome, so its search is the plain run's, draw for draw."""

    name = "layer"

    def __init__(self, inner: LayerwiseSpace, space: HardwareSpace) -> None:
        self.inner = inner
        self.space = space
        self.has_mapping = inner.has_mapping
        self.num_layers = inner.num_layers
        self.tables = inner.tables
        self.channels = inner.channels
        self.offset = inner.n_var
        self.free = np.array([i for i, v in enumerate(space.values) if len(v) > 1], np.intp)
        hu = np.array([len(space.values[i]) - 1 for i in self.free], dtype=np.int64)
        self.xu = np.concatenate([inner.xu, hu])
        self.xl = np.zeros_like(self.xu)
        self.choice = np.concatenate([inner.choice, np.zeros(len(hu), dtype=bool)])
        self.n_var = len(self.xu)

    def decode(self, X: np.ndarray) -> CandidateBatch:
        """Candidates (with their hardware points) from genomes ``X[P, n_var]``."""
        X = np.rint(np.asarray(X, dtype=np.float64)).astype(np.int64)
        b = self.inner.decode(X[:, : self.offset])
        hw = np.zeros((len(X), len(self.space.names)), dtype=np.int64)
        hw[:, self.free] = X[:, self.offset :]
        return CandidateBatch(
            b.layer_names, b.act_bits, b.weight_bits, b.group_sizes, b.mapping, hw
        )

    def seeds(self) -> np.ndarray:
        """The uniform configurations of the layer-wise space: the first on the base point,
        the others each on a hardware point drawn (seeded, so the same every run) from the
        space, so the first generation already spreads over the hardware."""
        s = self.inner.seeds()
        rng = np.random.default_rng(len(s))
        hw = rng.integers(0, self.xu[self.offset :] + 1, size=(len(s), len(self.free)))
        hw[0] = np.asarray(self.space.base_point)[self.free]
        return np.hstack([s, hw.astype(np.float64)])

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` genomes drawn uniformly from the space."""
        return rng.integers(0, self.xu + 1, size=(n, self.n_var)).astype(np.float64)
