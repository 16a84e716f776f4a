"""Every distinct candidate a search evaluated, with its scores; new ones streamed as CSV rows.

The archive is the search's memory: the Pareto front is selected from it, it is checkpointed
with the strategy after every generation, and `on_new` receives the header and the rows of the
candidates each batch adds (the run directory appends them to candidates.csv).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from codesign.core.candidates import CandidateBatch, Scores

METRICS = ("est_accuracy_loss_pp", "latency_ms", "energy_uj", "peak_kb", "weight_kb")


class Archive:
    """Distinct candidates in order of first evaluation.

    Per candidate: ``generation``, the ``strategy`` that proposed it, its bits and mapping
    (`batch(ids)`; the CSV's weight column holds one bit-width per layer, or per layer the
    channel count at each bit-width, e.g. '0x3 2x5 8x24'), objectives ``F[N, M]`` (display
    units), ``violation[N]`` of the memory limit in bytes and the metrics of `METRICS`.
    """

    def __init__(
        self,
        layer_names: Sequence[str],
        has_mapping: bool,
        on_new: Callable[[list[str], list[list[Any]]], None] | None = None,
        on_restore: Callable[[list[str], list[list[Any]]], None] | None = None,
        hardware: tuple[tuple[str, ...], tuple[tuple[float, ...], ...]] | None = None,
    ) -> None:
        self.layer_names = tuple(layer_names)
        self.has_mapping = has_mapping
        # under a hardware space: (parameter names, allowed values of each), for the CSV
        self.hardware = hardware
        self.on_new = on_new
        self.on_restore = on_restore
        self._seen: dict[bytes, int] = {}
        self._parts: list[dict[str, Any]] = []
        self._cat: dict[str, Any] | None = None
        names = self.layer_names
        self.header = ["id", "generation", "strategy", "feasible", *METRICS]
        self.header += [f"w:{n}" for n in names] + [f"a:{n}" for n in names]
        if has_mapping:
            self.header += [f"m:{n}" for n in names]
        if hardware is not None:
            self.header += ["area_mm2"] + [f"hw:{n}" for n in hardware[0]]

    def __len__(self) -> int:
        return len(self._seen)

    def record(
        self, generation: int, strategy: str, batch: CandidateBatch, scores: Scores
    ) -> np.ndarray:
        """Add the candidates of `batch` not seen before; returns every row's archive id."""
        keys = batch.keys()
        ids = np.empty(len(keys), dtype=np.int64)
        new = []
        for i, k in enumerate(keys):
            if k in self._seen:
                ids[i] = self._seen[k]
            else:
                ids[i] = self._seen[k] = len(self._seen)
                new.append(i)
        if not new:
            return ids
        sel = np.asarray(new)
        sub = _compact(batch.take(sel))
        c = scores.costs
        part = {
            "ids": ids[sel],
            "generation": np.full(len(sel), generation, dtype=np.int64),
            "strategy": [strategy] * len(sel),
            "batch": sub,
            "F": scores.objectives[sel],
            "violation": scores.violation[sel],
            "metrics": np.stack(
                [
                    scores.accuracy_loss[sel],
                    c.latency_s[sel] * 1e3,
                    c.energy_j[sel] * 1e6,
                    c.peak_bytes[sel] / 1e3,
                    c.weight_bytes[sel] / 1e3,
                ],
                axis=1,
            ),
        }
        if c.area_mm2 is not None:
            part["area_mm2"] = c.area_mm2[sel]
        self._parts.append(part)
        self._cat = None
        if self.on_new is not None:
            self.on_new(self.header, self._rows(part))
        return ids

    def _rows(self, part: dict[str, Any]) -> list[list[Any]]:
        b: CandidateBatch = part["batch"]
        w = b.layer_weight_bits() if b.is_layerwise else _channel_summaries(b)
        rows = []
        for j in range(len(part["ids"])):
            row = [
                int(part["ids"][j]),
                int(part["generation"][j]),
                part["strategy"][j],
                bool(part["violation"][j] <= 0),
                *(float(v) for v in part["metrics"][j]),
                *(v if isinstance(v, str) else int(v) for v in w[j]),
                *(int(v) for v in b.act_bits[j]),
            ]
            if b.mapping is not None:
                row += [int(v) for v in b.mapping[j]]
            if self.hardware is not None and b.hardware is not None:
                row.append(float(part["area_mm2"][j]) if "area_mm2" in part else "")
                row += [_num(vals[int(i)]) for vals, i in zip(self.hardware[1], b.hardware[j])]
            rows.append(row)
        return rows

    def rows(self) -> list[list[Any]]:
        """Every candidate as a CSV row (`header` order)."""
        return [r for p in self._parts for r in self._rows(p)]

    def _all(self) -> dict[str, Any]:
        if self._cat is None:
            ps = self._parts
            batches = [p["batch"] for p in ps]
            self._cat = {
                "F": np.concatenate([p["F"] for p in ps]),
                "violation": np.concatenate([p["violation"] for p in ps]),
                "generation": np.concatenate([p["generation"] for p in ps]),
                "strategy": [s for p in ps for s in p["strategy"]],
                "metrics": np.concatenate([p["metrics"] for p in ps]),
                "act_bits": np.concatenate([b.act_bits for b in batches]),
                "weight_bits": tuple(
                    np.concatenate([b.weight_bits[li] for b in batches])
                    for li in range(len(self.layer_names))
                ),
                "mapping": None
                if batches[0].mapping is None
                else np.concatenate([b.mapping for b in batches]),
                "hardware": None
                if batches[0].hardware is None
                else np.concatenate([b.hardware for b in batches]),
                "group_sizes": batches[0].group_sizes,
            }
        return self._cat

    def objectives(self) -> np.ndarray:
        """Objective matrix [N, M] of every archived candidate."""
        return self._all()["F"]

    def feasible(self) -> np.ndarray:
        """Boolean [N]: the candidate fits the memory limit."""
        return self._all()["violation"] <= 0

    def metric(self, name: str) -> np.ndarray:
        """One column of `METRICS` for every candidate."""
        return self._all()["metrics"][:, METRICS.index(name)]

    def generation(self, i: int) -> int:
        """The generation that first evaluated candidate i."""
        return int(self._all()["generation"][i])

    def id_of(self, key: bytes) -> int | None:
        """The id of the candidate with `key` (`CandidateBatch.keys`), None when unseen."""
        return self._seen.get(key)

    def strategy(self, i: int) -> str:
        """The strategy that proposed candidate i."""
        return self._all()["strategy"][i]

    def batch(self, ids: Sequence[int] | np.ndarray) -> CandidateBatch:
        """The candidates `ids` as a batch."""
        a = self._all()
        idx = np.asarray(ids, dtype=np.int64)
        return CandidateBatch(
            self.layer_names,
            a["act_bits"][idx].astype(np.int64),
            tuple(w[idx].astype(np.int64) for w in a["weight_bits"]),
            a["group_sizes"],
            None if a["mapping"] is None else a["mapping"][idx].astype(np.int64),
            None if a["hardware"] is None else a["hardware"][idx].astype(np.int64),
        )

    def state(self) -> dict[str, Any]:
        """A picklable snapshot (without the `on_new` hook)."""
        return {"seen": dict(self._seen), "parts": list(self._parts)}

    def restore(self, state: dict[str, Any]) -> None:
        """Go back to a `state()` snapshot; `on_restore` then receives the header and every
        row kept (a run rewrites candidates.csv with them, dropping the rows of a generation
        that did not finish)."""
        self._seen = dict(state["seen"])
        self._parts = list(state["parts"])
        self._cat = None
        if self.on_restore is not None:
            self.on_restore(self.header, self.rows())


def _compact(b: CandidateBatch) -> CandidateBatch:
    """`b` with bits held as int8 and mapping indices as int16: the archive keeps every
    candidate, and per-channel bits of a 50-layer network are tens of thousands of values each
    (ResNet-50: 27,560 per candidate, 1.4 GB over 6,400 candidates as int64)."""
    return CandidateBatch(
        b.layer_names,
        b.act_bits.astype(np.int8),
        tuple(w.astype(np.int8) for w in b.weight_bits),
        b.group_sizes,
        None if b.mapping is None else b.mapping.astype(np.int16),
        None if b.hardware is None else b.hardware.astype(np.int16),
    )


def _num(v: float) -> int | float:
    """A parameter value as the CSV shows it: an int when whole."""
    return int(v) if float(v).is_integer() else float(v)


def _channel_summaries(b: CandidateBatch) -> list[list[str]]:
    """Per candidate and layer, how many channels sit at each weight bit-width, e.g.
    '0x3 2x5 8x24' (3 pruned, 5 at 2 bits, 24 at 8 bits)."""
    out = []
    for j in range(len(b)):
        row = []
        for w, sizes in zip(b.weight_bits, b.group_sizes):
            counts: dict[int, int] = {}
            for bits, n in zip(w[j].tolist(), sizes):
                counts[bits] = counts.get(bits, 0) + n
            row.append(" ".join(f"{k}x{v}" for k, v in sorted(counts.items())))
        out.append(row)
    return out


def pareto_order(F: np.ndarray, ids: np.ndarray, sort_cols: Sequence[int]) -> np.ndarray:
    """`ids` sorted by F[:, sort_cols[0]], ties broken by the later columns."""
    keys = tuple(F[ids, c] for c in reversed(sort_cols))
    return ids[np.lexsort(keys)]
