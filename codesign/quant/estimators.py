"""Accuracy estimators the search can use, from cheap to faithful.

Each maps a population of per-layer bit-width indices ([P, L] into the cost tables' activation
and weight bit-widths) to an estimated accuracy loss in percentage points below full precision:

- ``proxy``: per-layer PTQ sensitivity, summed (`SensitivityProxy`, a gather and a sum);
- ``supernet``: one forward pass of a switchable-precision supernet per distinct candidate;
- ``finetune``: a short quantized fine-tune per distinct candidate (through Dask and the cache).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from torch.utils.data import TensorDataset

from codesign.quant.supernet import Supernet

ESTIMATORS = ("proxy", "supernet", "finetune")


class _Memo:
    """Evaluate each distinct genome once; later requests are dictionary lookups."""

    def __init__(self) -> None:
        self.values: dict[bytes, float] = {}

    def loss(
        self,
        act_idx: np.ndarray,
        weight_idx: np.ndarray,
        compute: Callable[[list[int], list[int]], float],
    ) -> np.ndarray:
        out = np.empty(len(act_idx))
        for i, (a, w) in enumerate(zip(act_idx, weight_idx)):
            key = np.concatenate([a, w]).astype(np.int16).tobytes()
            if key not in self.values:
                self.values[key] = compute(a.tolist(), w.tolist())
            out[i] = self.values[key]
        return out


class SupernetEstimator:
    """Accuracy loss (pp) = full-precision accuracy - supernet accuracy, both on `data`."""

    def __init__(
        self,
        supernet: Supernet,
        data: TensorDataset,
        fp_accuracy: float,
        act_bits: Sequence[int],
        weight_bits: Sequence[int],
    ) -> None:
        self.supernet = supernet
        self.data = data
        self.fp_accuracy = fp_accuracy
        self.act_bits = tuple(act_bits)
        self.weight_bits = tuple(weight_bits)
        self._memo = _Memo()

    def accuracy(self, act_bits: Sequence[int], weight_bits: Sequence[int]) -> float:
        """Supernet accuracy (percent) of one configuration given in bits."""
        return self.supernet.accuracy(act_bits, weight_bits, self.data)

    def loss(self, act_idx: np.ndarray, weight_idx: np.ndarray) -> np.ndarray:
        """Estimated accuracy loss (pp) of P candidates."""

        def one(a: list[int], w: list[int]) -> float:
            acc = self.accuracy([self.act_bits[i] for i in a], [self.weight_bits[i] for i in w])
            return self.fp_accuracy - acc

        return self._memo.loss(np.asarray(act_idx), np.asarray(weight_idx), one)


class FinetuneEstimator:
    """Accuracy loss (pp) from short fine-tunes; `run_batch` fine-tunes a list of configs.

    `run_batch(configs)` takes (act_bits, weight_bits) pairs in bits and returns accuracies
    (percent, NaN for a failed fine-tune, which counts as a total loss).
    """

    def __init__(
        self,
        run_batch: Callable[[list[tuple[list[int], list[int]]]], list[float]],
        fp_accuracy: float,
        act_bits: Sequence[int],
        weight_bits: Sequence[int],
    ) -> None:
        self.run_batch = run_batch
        self.fp_accuracy = fp_accuracy
        self.act_bits = tuple(act_bits)
        self.weight_bits = tuple(weight_bits)
        self.values: dict[bytes, float] = {}

    def loss(self, act_idx: np.ndarray, weight_idx: np.ndarray) -> np.ndarray:
        """Estimated accuracy loss (pp) of P candidates; new ones fine-tuned as one batch."""
        keys = [
            np.concatenate([a, w]).astype(np.int16).tobytes() for a, w in zip(act_idx, weight_idx)
        ]
        todo, seen = [], set()
        for k, a, w in zip(keys, act_idx, weight_idx):
            if k not in self.values and k not in seen:
                seen.add(k)
                todo.append((k, [self.act_bits[i] for i in a], [self.weight_bits[i] for i in w]))
        if todo:
            accs = self.run_batch([(a, w) for _, a, w in todo])
            for (k, _, _), acc in zip(todo, accs):
                self.values[k] = (
                    self.fp_accuracy if not np.isfinite(acc) else self.fp_accuracy - acc
                )
        return np.array([self.values[k] for k in keys])
