"""Every evaluated candidate, deduplicated, with its costs; streamed to CSV as it arrives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from codesign.cost.tables import CostTables
from codesign.search.nsga2 import Evaluated

METRICS = ("est_accuracy_loss_pp", "latency_ms", "energy_uj", "peak_kb", "weight_kb")


class Archive:
    """Distinct genomes in order of first evaluation; `on_new` receives CSV rows of new ones."""

    def __init__(
        self,
        tables: CostTables,
        on_new: Callable[[list[str], list[list[Any]]], None] | None = None,
    ) -> None:
        self.tables = tables
        self.on_new = on_new
        self.candidates: list[dict[str, Any]] = []
        self._seen: dict[bytes, int] = {}
        names = tables.layer_names
        self.header = ["id", "generation", "feasible", *METRICS]
        self.header += [f"w:{n}" for n in names] + [f"a:{n}" for n in names]
        if tables.num_mappings > 1:
            self.header += [f"m:{n}" for n in names]

    def __len__(self) -> int:
        return len(self.candidates)

    def record(self, ev: Evaluated) -> None:
        """Add the genomes of `ev` not seen before (the pymoo problem's evaluation hook)."""
        rows = []
        t = self.tables
        for i in range(len(ev.weight_idx)):
            parts = [ev.weight_idx[i], ev.act_idx[i]]
            if ev.map_idx is not None:
                parts.append(ev.map_idx[i])
            key = np.concatenate(parts).astype(np.int16).tobytes()
            if key in self._seen:
                continue
            cid = len(self.candidates)
            self._seen[key] = cid
            c = {
                "id": cid,
                "generation": ev.generation,
                "feasible": bool(ev.violation[i] <= 0),
                "est_accuracy_loss_pp": float(ev.accuracy_loss[i]),
                "latency_ms": float(ev.scores.latency_s[i] * 1e3),
                "energy_uj": float(ev.scores.energy_j[i] * 1e6),
                "peak_kb": float(ev.scores.peak_bytes[i] / 1e3),
                "weight_kb": float(ev.scores.weight_bytes[i] / 1e3),
                "weight_bits": [t.weight_bits[j] for j in ev.weight_idx[i]],
                "act_bits": [t.act_bits[j] for j in ev.act_idx[i]],
                "mapping": [] if ev.map_idx is None else [int(j) for j in ev.map_idx[i]],
                "F": ev.objectives[i].copy(),
            }
            self.candidates.append(c)
            rows.append(
                [cid, ev.generation, c["feasible"], *(c[m] for m in METRICS)]
                + c["weight_bits"]
                + c["act_bits"]
                + c["mapping"]
            )
        if self.on_new is not None and rows:
            self.on_new(self.header, rows)

    def objectives(self) -> np.ndarray:
        """Objective matrix [N, M] of every archived candidate."""
        return np.stack([c["F"] for c in self.candidates])

    def feasible(self) -> np.ndarray:
        """Boolean [N]: the candidate fits the memory limit."""
        return np.array([c["feasible"] for c in self.candidates])


def pareto_order(F: np.ndarray, ids: np.ndarray, sort_cols: Sequence[int]) -> np.ndarray:
    """`ids` sorted by F[:, sort_cols[0]], ties broken by the later columns."""
    keys = tuple(F[ids, c] for c in reversed(sort_cols))
    return ids[np.lexsort(keys)]
