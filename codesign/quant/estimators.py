"""Accuracy estimators the search can use, from cheap to faithful.

Each maps a `CandidateBatch` to an estimated accuracy loss in percentage points below full
precision:

- ``proxy``: per-layer PTQ sensitivity, summed (`SensitivityProxy`, a gather and a sum);
- ``supernet``: one forward pass of a switchable-precision supernet per distinct candidate;
- ``finetune``: a short quantized fine-tune per distinct candidate (through Dask and the cache).

`AnchoredEstimator` corrects a cheap estimator with a monotone map fitted to a few fine-tuned
anchor configurations (`MonotoneMap`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.isotonic import IsotonicRegression
from torch import Tensor
from torch.utils.data import TensorDataset

from codesign.core.candidates import CandidateBatch
from codesign.quant.supernet import Supernet

# (activation bits per layer, weight bits per layer: an int, or a tuple with one entry per
# output channel, 0 = pruned) per candidate
Configs = list[tuple[list[int], list[int | tuple[int, ...]]]]


class _MemoEstimator(ABC):
    """Scores each distinct candidate once, new ones of a population as one batch.

    Subclasses give `_accuracies(configs)`: accuracies in percent for (act bits, weight bits)
    pairs, NaN for a candidate that could not be scored (counted as a total loss).
    """

    def __init__(self, fp_accuracy: float) -> None:
        self.fp_accuracy = fp_accuracy
        self.values: dict[bytes, float] = {}

    @abstractmethod
    def _accuracies(self, configs: Configs) -> list[float]:
        """Accuracies in percent of `configs`, NaN where one could not be scored."""

    def loss(self, batch: CandidateBatch) -> np.ndarray:
        """Estimated accuracy loss (pp) of the batch's candidates (per-layer or per-channel
        weight bits)."""
        keys = batch.keys()
        layerwise = batch.is_layerwise
        todo: dict[bytes, tuple[list[int], list]] = {}
        for i, k in enumerate(keys):
            if k not in self.values and any(int(w[i].max()) == 0 for w in batch.weight_bits):
                self.values[k] = self.fp_accuracy  # a layer with no channel: the network is cut
            if k not in self.values and k not in todo:
                act = [int(b) for b in batch.act_bits[i]]
                if layerwise:
                    todo[k] = (act, [int(w[i, 0]) for w in batch.weight_bits])
                else:
                    todo[k] = (act, [p.weight_bits for p in batch.precisions(i)])
        if todo:
            for k, acc in zip(todo, self._accuracies(list(todo.values()))):
                self.values[k] = (
                    self.fp_accuracy if not np.isfinite(acc) else self.fp_accuracy - acc
                )
        return np.array([self.values[k] for k in keys])


class SupernetEstimator(_MemoEstimator):
    """Accuracy loss (pp) = full-precision accuracy - supernet accuracy, both on `data`."""

    def __init__(
        self,
        supernet: Supernet,
        data: TensorDataset,
        fp_accuracy: float,
        calibration: Tensor | None = None,
    ) -> None:
        super().__init__(fp_accuracy)
        self.supernet = supernet
        self.data = data
        self.calibration = calibration  # inputs the BN statistics are re-measured on, per config

    def accuracy(self, act_bits: Sequence[int], weight_bits: Sequence[int]) -> float:
        """Supernet accuracy (percent) of one configuration given in bits, after re-measuring
        its batch-norm statistics on the `calibration` inputs (when there are some)."""
        return self.supernet.accuracy(act_bits, weight_bits, self.data, self.calibration)

    def _accuracies(self, configs: Configs) -> list[float]:
        return [self.accuracy(a, w) for a, w in configs]


class FinetuneEstimator(_MemoEstimator):
    """Accuracy loss (pp) from short fine-tunes; `run_batch` fine-tunes a list of configs.

    `run_batch(configs)` takes (act_bits, weight_bits) pairs in bits and returns accuracies
    (percent, NaN for a failed fine-tune, which counts as a total loss).
    """

    def __init__(
        self,
        run_batch: Callable[[Configs], list[float]],
        fp_accuracy: float,
    ) -> None:
        super().__init__(fp_accuracy)
        self.run_batch = run_batch

    def _accuracies(self, configs: Configs) -> list[float]:
        return self.run_batch(configs)


class MonotoneMap:
    """A non-decreasing map from raw to measured accuracy loss, fitted to anchor points by
    isotonic regression and interpolated linearly between them; beyond the anchors it goes on
    with slope 1 (a shift), and a small share of the raw value breaks its plateaus, so the map
    never reverses and never ties two candidates the raw estimate tells apart."""

    TIE_BREAK = 1e-3

    def __init__(self, raw: Sequence[float], measured: Sequence[float]) -> None:
        x, y = np.asarray(raw, dtype=np.float64), np.asarray(measured, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() == 0:
            raise ValueError("a monotone map needs at least one finite anchor")
        iso = IsotonicRegression(increasing=True).fit(x[ok], y[ok])
        self.x = np.asarray(iso.X_thresholds_, dtype=np.float64)
        self.y = np.asarray(iso.y_thresholds_, dtype=np.float64)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        """Measured-scale losses of `raw` losses (NaN stays NaN)."""
        raw = np.asarray(raw, dtype=np.float64)
        out = np.interp(raw, self.x, self.y)
        out = np.where(raw < self.x[0], self.y[0] + raw - self.x[0], out)
        out = np.where(raw > self.x[-1], self.y[-1] + raw - self.x[-1], out)
        return out + self.TIE_BREAK * raw


class AnchoredEstimator:
    """`inner`'s losses put through a `MonotoneMap` fitted to fine-tuned anchors, clipped so
    that an estimated accuracy stays within [0, 100] %."""

    def __init__(self, inner: _MemoEstimator, fitted: MonotoneMap) -> None:
        self.inner = inner
        self.map = fitted
        self.fp_accuracy = inner.fp_accuracy

    def loss(self, batch: CandidateBatch) -> np.ndarray:
        """Calibrated accuracy loss (pp) of the batch's candidates."""
        return np.clip(self.map(self.inner.loss(batch)), self.fp_accuracy - 100.0, self.fp_accuracy)
