"""`CostTables`: every layer priced once at every precision; a population scored by gathers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NetworkScores:
    """Costs of P candidate networks, one entry per candidate.

    Units: `cycles` clock cycles, `latency_s` seconds, `energy_j` joules, `weight_bytes`
    packed weights + per-channel parameters, `peak_act_bytes` the largest set of activation
    tensors resident at once, `peak_bytes` = weights + peak activations.
    """

    cycles: np.ndarray
    latency_s: np.ndarray
    energy_j: np.ndarray
    weight_bytes: np.ndarray
    peak_act_bytes: np.ndarray

    @property
    def peak_bytes(self) -> np.ndarray:
        """Weights plus the peak of live activations, in bytes."""
        return self.weight_bytes + self.peak_act_bytes


@dataclass(frozen=True)
class CostTables:
    """Per-layer cost arrays of one (network, hardware) pair.

    Index conventions: l over the L quantizable layers (`layer_names`), a over `act_bits`,
    w over `weight_bits` (searchable, non-zero), j over activation tensors, t over execution steps.

    - ``cycles[l, a, w]``: cycles of layer l with every output channel at (a, w)
    - ``weight_bytes[l, w]``: packed weights + per-channel parameters of layer l at w
    - ``fixed_cycles``: cycles of the layers without weights (pooling, add), bit-independent
    - ``tensor_elems[j]`` and ``tensor_readers[j]``: elements of tensor j and the quantizable
      layers whose activation bits set its storage width (the widest reader wins);
      ``tensor_default_bits[j]`` where no quantizable layer reads it (network output)
    - ``live[t, j]``: tensor j resident while step t runs
    """

    layer_names: tuple[str, ...]
    act_bits: tuple[int, ...]
    weight_bits: tuple[int, ...]
    cycles: np.ndarray
    weight_bytes: np.ndarray
    fixed_cycles: float
    tensor_names: tuple[str, ...]
    tensor_elems: np.ndarray
    tensor_readers: tuple[tuple[int, ...], ...]
    tensor_default_bits: np.ndarray
    live: np.ndarray
    clock_hz: float
    power_w: float
    memory_limit_bytes: float

    @property
    def num_layers(self) -> int:
        """Number of quantizable layers (genes per bit-width kind)."""
        return len(self.layer_names)

    def tensor_bits(self, act_idx: np.ndarray) -> np.ndarray:
        """Storage bits [P, J] of every activation tensor for act-bit indices [P, L]."""
        bits = np.asarray(self.act_bits, dtype=np.float64)[act_idx]
        out = np.empty((act_idx.shape[0], len(self.tensor_names)), dtype=np.float64)
        for j, readers in enumerate(self.tensor_readers):
            out[:, j] = (
                bits[:, list(readers)].max(axis=1) if readers else self.tensor_default_bits[j]
            )
        return out

    def score(self, act_idx: np.ndarray, weight_idx: np.ndarray) -> NetworkScores:
        """Score P networks given per-layer indices into `act_bits` and `weight_bits` ([P, L] each).

        Vectorised over the population: gathers from the tables and sums over layers.
        """
        act_idx = np.asarray(act_idx, dtype=np.intp)
        weight_idx = np.asarray(weight_idx, dtype=np.intp)
        layers = np.arange(self.num_layers)
        cycles = self.cycles[layers, act_idx, weight_idx].sum(axis=1) + self.fixed_cycles
        wbytes = self.weight_bytes[layers, weight_idx].sum(axis=1)
        tbytes = self.tensor_bits(act_idx) * self.tensor_elems / 8.0
        peak_act = (tbytes @ self.live.T.astype(np.float64)).max(axis=1)
        latency = cycles / self.clock_hz
        return NetworkScores(
            cycles=cycles,
            latency_s=latency,
            energy_j=latency * self.power_w,
            weight_bytes=wbytes,
            peak_act_bytes=peak_act,
        )
