"""Cheap accuracy proxy: per-layer quantization sensitivity, summed (vectorised over a population).

For each quantizable layer and each bit-width, the validation accuracy drop when *only* that
layer's weights (or only its input activations) are quantized post-training. A candidate's
estimated accuracy loss is the sum of its layers' drops (the additive assumption behind HAWQ-
style sensitivity budgets), so a population is scored with two gathers and a sum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from torch import nn
from torch.utils.data import TensorDataset

from codesign.core.types import LayerSpec
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.train import evaluate, quantize_ptq


@dataclass(frozen=True)
class SensitivityProxy:
    """Accuracy drops in percentage points: ``weight_drop[l, w]`` and ``act_drop[l, a]``.

    `fp_accuracy` is the full-precision validation accuracy the drops are measured from.
    """

    layer_names: tuple[str, ...]
    act_bits: tuple[int, ...]
    weight_bits: tuple[int, ...]
    weight_drop: np.ndarray
    act_drop: np.ndarray
    fp_accuracy: float

    def loss(self, act_idx: np.ndarray, weight_idx: np.ndarray) -> np.ndarray:
        """Estimated accuracy loss (pp) of P candidates from [P, L] bit-width indices."""
        layers = np.arange(len(self.layer_names))
        total = self.weight_drop[layers, weight_idx].sum(axis=1) + self.act_drop[
            layers, act_idx
        ].sum(axis=1)
        return np.minimum(total, self.fp_accuracy)


def measure_sensitivity(
    fp_model: nn.Module,
    layers: Sequence[LayerSpec],
    act_bits: Sequence[int],
    weight_bits: Sequence[int],
    calib: TensorDataset,
    val: TensorDataset,
    workload: str = "",
    progress: Callable[[], None] | None = None,
) -> SensitivityProxy:
    """Measure the per-layer PTQ accuracy drops on `val` (calibrating on `calib`)."""
    fp_acc = evaluate(fp_model, val)
    wd = np.zeros((len(layers), len(weight_bits)))
    ad = np.zeros((len(layers), len(act_bits)))
    for li, spec in enumerate(layers):
        for wi, w in enumerate(weight_bits):
            lq = LayerQuant(spec.name, spec.source, spec.kind.value, None, (w,) * spec.K)
            acc = evaluate(quantize_ptq(fp_model, QuantConfig(workload, (lq,)), calib), val)
            wd[li, wi] = max(0.0, fp_acc - acc)
            if progress:
                progress()
        for ai, a in enumerate(act_bits):
            lq = LayerQuant(spec.name, spec.source, spec.kind.value, a, (32,) * spec.K)
            acc = evaluate(quantize_ptq(fp_model, QuantConfig(workload, (lq,)), calib), val)
            ad[li, ai] = max(0.0, fp_acc - acc)
            if progress:
                progress()
    # fewer bits never hurt less than more bits: remove measurement noise that says otherwise
    wd = _monotone(wd, weight_bits)
    ad = _monotone(ad, act_bits)
    return SensitivityProxy(
        tuple(s.name for s in layers), tuple(act_bits), tuple(weight_bits), wd, ad, fp_acc
    )


def _monotone(drop: np.ndarray, bits: Sequence[int]) -> np.ndarray:
    """Make each row non-increasing in bit-width (running max from the widest to the narrowest)."""
    order = np.argsort(bits)[::-1]  # widest first
    out = drop.copy()
    out[:, order] = np.maximum.accumulate(drop[:, order], axis=1)
    return out
