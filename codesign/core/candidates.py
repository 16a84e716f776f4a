"""Frozen values the search stages pass each other: candidate batches, scores, candidates, fronts.

A strategy proposes genomes; a `SearchSpace` decodes them into a `CandidateBatch` (bits, not
gene indices); cost tables and estimators score the batch into `Scores`; the archive keeps every
distinct candidate; `select_front` turns the non-dominated ones into `Candidate`s, each priced
exactly per layer (`NetworkCost`), which re-scoring annotates with `Rescore`s. A `Front` is what
the report, the export and the CLI read back from a run directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from codesign.core.types import Configuration, NetworkCost, Objective, Precision


def index_of(bits: np.ndarray, values: Sequence[int], what: str = "") -> np.ndarray:
    """Indices into `values` of every entry of the integer array `bits`; `ConfigError` naming
    the bit-widths `values` does not hold."""
    from codesign.core.errors import ConfigError

    bits = np.asarray(bits, dtype=np.int64)
    lut = np.full(max(max(values), int(bits.max(initial=0))) + 1, -1, dtype=np.intp)
    lut[list(values)] = np.arange(len(values))
    idx = lut[bits]
    if (idx < 0).any():
        bad = sorted(set(bits[idx < 0].tolist()))
        raise ConfigError(f"{what} bits {bad} not among {list(values)}".strip())
    return idx


@dataclass(frozen=True)
class CandidateBatch:
    """P candidate networks over the L quantizable layers `layer_names`, in bits.

    ``act_bits[P, L]``: bits of each layer's input activations. ``weight_bits[l]`` is
    ``[P, G_l]``: the weight bits of each of layer l's G_l channel groups, whose sizes (output
    channels per group) are ``group_sizes[l]``; a layer-wise search has one group per layer.
    ``mapping[P, L]``: the kept mapping each layer runs (None where the hardware has no choice).
    ``hardware[P, H]``: under a hardware space (`--hw-space`), each candidate's index into the
    allowed values of each of the space's H parameters (None on one fixed hardware).
    """

    layer_names: tuple[str, ...]
    act_bits: np.ndarray
    weight_bits: tuple[np.ndarray, ...]
    group_sizes: tuple[tuple[int, ...], ...]
    mapping: np.ndarray | None = None
    hardware: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.act_bits.shape[0])

    @classmethod
    def layerwise(
        cls,
        layer_names: Sequence[str],
        channels: Sequence[int],
        act_bits: np.ndarray,
        weight_bits: np.ndarray,
        mapping: np.ndarray | None = None,
    ) -> CandidateBatch:
        """A batch with one weight bit-width per layer (``weight_bits[P, L]``)."""
        w = np.asarray(weight_bits, dtype=np.int64)
        return cls(
            tuple(layer_names),
            np.asarray(act_bits, dtype=np.int64),
            tuple(w[:, [i]] for i in range(w.shape[1])),
            tuple((int(k),) for k in channels),
            None if mapping is None else np.asarray(mapping, dtype=np.int64),
        )

    @property
    def is_layerwise(self) -> bool:
        """True when every layer has one weight bit-width for all its channels."""
        return all(len(g) == 1 for g in self.group_sizes)

    def layer_weight_bits(self) -> np.ndarray:
        """Weight bits [P, L], one per layer; `ValueError` for a per-channel-group batch."""
        if not self.is_layerwise:
            raise ValueError("this batch has per-channel-group weight bits, not one per layer")
        if not self.weight_bits:
            return np.zeros((len(self), 0), dtype=np.int64)
        return np.concatenate(self.weight_bits, axis=1)

    def keys(self) -> list[bytes]:
        """One byte string per candidate, equal exactly when the candidates are equal."""
        parts = [self.act_bits, *self.weight_bits]
        if self.mapping is not None:
            parts.append(self.mapping)
        if self.hardware is not None:
            parts.append(self.hardware)
        return [r.tobytes() for r in np.concatenate(parts, axis=1).astype(np.int16)]

    def precisions(self, i: int) -> tuple[Precision, ...]:
        """Candidate i as one `Precision` per layer (weight bits expanded to every channel)."""
        out = []
        for li, sizes in enumerate(self.group_sizes):
            wb = self.weight_bits[li][i]
            per_channel = tuple(int(b) for b, n in zip(wb, sizes) for _ in range(n))
            out.append(Precision(int(self.act_bits[i, li]), per_channel))
        return tuple(out)

    def mapping_of(self, i: int) -> tuple[int, ...] | None:
        """Candidate i's kept-mapping index per layer (None without a mapping gene)."""
        return None if self.mapping is None else tuple(int(m) for m in self.mapping[i])

    def hardware_of(self, i: int) -> tuple[int, ...] | None:
        """Candidate i's hardware point (value index per space parameter; None without one)."""
        return None if self.hardware is None else tuple(int(h) for h in self.hardware[i])

    def take(self, idx: np.ndarray) -> CandidateBatch:
        """The candidates at `idx`."""
        return CandidateBatch(
            self.layer_names,
            self.act_bits[idx],
            tuple(w[idx] for w in self.weight_bits),
            self.group_sizes,
            None if self.mapping is None else self.mapping[idx],
            None if self.hardware is None else self.hardware[idx],
        )


@dataclass(frozen=True)
class NetworkScores:
    """Costs of P candidate networks, one entry per candidate.

    Units: `cycles` clock cycles, `latency_s` seconds, `energy_j` joules, `weight_bytes`
    packed weights + per-channel parameters, `peak_act_bytes` the largest set of activation
    tensors resident at once, `peak_bytes` = weights + peak activations. ``severed[P]`` (None
    where no candidate prunes) is True where pruning left some layer no channel: the network
    is cut, so the candidate is infeasible. ``area_mm2[P]`` (None on one fixed hardware) is
    the area of each candidate's hardware point (`--hw-space`); ``unsupported[P]`` (None where
    every point runs every bit-width) is True where the point's PEs do not run some layer's
    bits (its costs are then those at the widest bits it runs; the candidate is infeasible).
    """

    cycles: np.ndarray
    latency_s: np.ndarray
    energy_j: np.ndarray
    weight_bytes: np.ndarray
    peak_act_bytes: np.ndarray
    severed: np.ndarray | None = None
    area_mm2: np.ndarray | None = None
    unsupported: np.ndarray | None = None

    @property
    def peak_bytes(self) -> np.ndarray:
        """Weights plus the peak of live activations, in bytes."""
        return self.weight_bytes + self.peak_act_bytes


def objective_values(
    objectives: Sequence[Objective], costs: NetworkScores, accuracy_loss: np.ndarray
) -> np.ndarray:
    """Matrix [P, M] of objective values in display units (pp, ms, uJ, kB, mm2);
    `ConfigError` for the area objective on scores without an area (one fixed hardware)."""
    cols = {
        Objective.ACCURACY_LOSS: accuracy_loss,
        Objective.LATENCY: costs.latency_s * 1e3,
        Objective.ENERGY: costs.energy_j * 1e6,
        Objective.MEMORY: costs.peak_bytes / 1e3,
    }
    if Objective.AREA in objectives:
        if costs.area_mm2 is None:
            from codesign.core.errors import ConfigError

            raise ConfigError(
                "--objectives area: the area axis needs a hardware space (--hw-space)"
            )
        cols[Objective.AREA] = costs.area_mm2
    return np.stack([np.asarray(cols[o], dtype=np.float64) for o in objectives], axis=1)


@dataclass(frozen=True)
class Scores:
    """What a batch scored: ``objectives[P, M]`` in display units (pp, ms, uJ, kB), the
    ``violation[P]`` of the memory limit in bytes (<= 0 fits), the raw `costs`, and the
    estimated ``accuracy_loss[P]`` in percentage points (NaN without an estimator)."""

    objectives: np.ndarray
    violation: np.ndarray
    costs: NetworkScores
    accuracy_loss: np.ndarray

    @property
    def feasible(self) -> np.ndarray:
        """Boolean [P]: the candidate fits the memory limit."""
        return self.violation <= 0


@dataclass(frozen=True)
class Rescore:
    """One re-scoring of a candidate (a short quantized fine-tune), on held-out data.

    `accuracy` and `ptq_accuracy` in percent (None when it failed, with `reason`); `cached`
    says the result came from the evaluation cache; `key` is its cache key. `selected_on` names
    the split whose accuracy put the point on the front (`val_accuracy`), when the front was
    built from fine-tunes made during the search (`--rescore-per-gen`).
    """

    method: str
    recipe: str
    steps: int
    split: str
    status: str
    accuracy: float | None = None
    ptq_accuracy: float | None = None
    cached: bool = False
    seconds: float | None = None
    reason: str | None = None
    key: str = ""
    selected_on: str | None = None
    val_accuracy: float | None = None
    generation: int | None = None  # the search generation that fine-tuned it (in-loop)

    @property
    def ok(self) -> bool:
        """True when the re-scoring finished with an accuracy."""
        return self.status == "ok" and self.accuracy is not None


@dataclass(frozen=True)
class Candidate:
    """One configuration the search found: where it came from, what it is, what it costs.

    `precisions` and `mapping` follow the front's layer order; `cost` is the exact per-layer
    price; `est_accuracy_loss` the search's estimate in percentage points (None without one).
    """

    id: int
    generation: int
    strategy: str
    precisions: tuple[Precision, ...]
    mapping: tuple[int, ...] | None
    cost: NetworkCost
    est_accuracy_loss: float | None = None
    rescores: tuple[Rescore, ...] = ()
    # under a hardware space: the point's parameter values, its area (mm^2) and its whole
    # hardware file as a document (what `export --format hw` writes)
    hardware: tuple[tuple[str, float], ...] | None = None
    area_mm2: float | None = None
    hardware_doc: dict | None = field(default=None, compare=False)

    @property
    def act_bits(self) -> tuple[int, ...]:
        """Input activation bits per layer."""
        return tuple(p.act_bits for p in self.precisions)

    @property
    def weight_bits(self) -> tuple[int, ...]:
        """One weight bit-width per layer (the widest, where channels differ)."""
        return tuple(max(p.weight_bits) for p in self.precisions)

    @property
    def finetuned(self) -> Rescore | None:
        """The latest fine-tune that finished, or None."""
        done = [r for r in self.rescores if r.ok]
        return done[-1] if done else None

    @property
    def finetuned_accuracy(self) -> float | None:
        """Fine-tuned held-out accuracy in percent, or None."""
        r = self.finetuned
        return None if r is None else r.accuracy

    @property
    def latency_ms(self) -> float:
        """Latency per inference in milliseconds."""
        return self.cost.latency_s * 1e3

    @property
    def energy_uj(self) -> float:
        """Energy per inference in microjoules."""
        return self.cost.energy_j * 1e6

    @property
    def peak_kb(self) -> float:
        """Weights plus peak live activations in kB."""
        return self.cost.peak_bytes / 1e3

    @property
    def weight_kb(self) -> float:
        """Packed weights and per-channel parameters in kB."""
        return self.cost.weight_bytes / 1e3

    def configuration(self, layers: Sequence[str]) -> Configuration:
        """This candidate as a `Configuration` over `layers` (the front's layer names)."""
        return Configuration.over(layers, self.precisions, self.mapping)

    @property
    def uniform_bits(self) -> int | None:
        """`uniform_bits` of this candidate's precisions."""
        return uniform_bits(self.precisions)

    def with_rescore(self, r: Rescore) -> Candidate:
        """A copy with `r` added."""
        return replace(self, rescores=(*self.rescores, r))


def uniform_bits(precisions: Sequence[Precision]) -> int | None:
    """b when every layer's input and every channel's weights are at b bits (the uniform
    baseline wbab a user compares against), else None."""
    bits = {p.act_bits for p in precisions}
    for p in precisions:
        bits.update(p.weight_bits)
    return next(iter(bits)) if len(bits) == 1 else None


@dataclass(frozen=True)
class Front:
    """The Pareto front of a run: feasible non-dominated candidates, sorted by the first cost.

    `fp_accuracy` is the full-precision model's held-out accuracy in percent (None without
    data); `memory_limit_bytes` the hardware's limit; `evaluated` how many distinct candidates
    the search scored.
    """

    workload: str
    hardware: str
    family: str
    objectives: tuple[Objective, ...]
    layers: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    fp_accuracy: float | None = None
    memory_limit_bytes: float = float("inf")
    evaluated: int = 0
    strategy: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return len(self.candidates)

    def est_accuracy(self, c: Candidate) -> float | None:
        """Estimated accuracy of `c` in percent: full precision (test split) minus its
        estimated loss (measured against full precision on the validation split), clipped to
        [0, 100] since a loss found on one split can overshoot on the other."""
        if self.fp_accuracy is None or c.est_accuracy_loss is None:
            return None
        return min(100.0, max(0.0, self.fp_accuracy - c.est_accuracy_loss))

    def estimate_errors(self) -> list[tuple[int, float, float]]:
        """(row, estimated accuracy, fine-tuned accuracy) of every point that has both, in
        front order: how far the estimates the search steered by were from what measured them."""
        out = []
        for r, c in enumerate(self.candidates):
            est, ft = self.est_accuracy(c), c.finetuned_accuracy
            if est is not None and ft is not None:
                out.append((r, est, ft))
        return out

    def objective_value(
        self, c: Candidate, objective: Objective, measured: bool = False
    ) -> float | None:
        """`c`'s value of `objective` in display units: its accuracy loss estimated, or
        `measured` by its fine-tune (None without one); its exact cost otherwise (area None
        on one fixed hardware)."""
        if objective == Objective.ACCURACY_LOSS:
            if not measured:
                return c.est_accuracy_loss
            acc = c.finetuned_accuracy
            return None if acc is None or self.fp_accuracy is None else self.fp_accuracy - acc
        return {
            Objective.LATENCY: c.latency_ms,
            Objective.ENERGY: c.energy_uj,
            Objective.MEMORY: c.peak_kb,
            Objective.AREA: c.area_mm2,
        }[objective]

    def with_candidates(self, candidates: Sequence[Candidate]) -> Front:
        """A copy holding `candidates` instead."""
        return replace(self, candidates=tuple(candidates))
