"""Cheap accuracy proxy: per-layer quantization sensitivity, summed (vectorised over a population).

For each quantizable layer and each bit-width, the validation accuracy drop when *only* that
layer's weights (or only its input activations) are quantized post-training. A candidate's
estimated accuracy loss is the sum of its layers' drops (the additive assumption behind HAWQ-
style sensitivity budgets), so a population is scored with two gathers and a sum.

Per-channel candidates: a layer whose channels mix bit-widths loses the channel-share-weighted
sum of its whole-layer drops, plus the drop of pruning its share of 0-bit channels, measured by
pruning the least important 25 / 50 / 75 % of its channels (the search's ranking) and
interpolated (0 at no pruning, a total loss when all are pruned).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from codesign.core.candidates import CandidateBatch, index_of
from codesign.core.types import LayerSpec
from codesign.quant.apply import apply_config
from codesign.quant.config import LayerQuant
from codesign.quant.fakequant import reestimate_bn
from codesign.quant.train import evaluate


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
    prune_fractions: tuple[float, ...] = ()
    prune_drop: np.ndarray | None = None  # [L, F]: pruning the least important fraction f

    def loss(self, batch: CandidateBatch) -> np.ndarray:
        """Estimated accuracy loss (pp) of the batch's candidates (per-layer or per-channel
        weight bits)."""
        act_idx = index_of(batch.act_bits, self.act_bits, "activation")
        if batch.is_layerwise and min((int(w.min()) for w in batch.weight_bits), default=1) > 0:
            weight_idx = index_of(batch.layer_weight_bits(), self.weight_bits, "weight")
            return self.loss_indices(act_idx, weight_idx)
        layers = np.arange(len(self.layer_names))
        total = self.act_drop[layers, act_idx].sum(axis=1)
        for li, (w, sizes) in enumerate(zip(batch.weight_bits, batch.group_sizes)):
            n = np.asarray(sizes, dtype=np.float64)
            share = n / n.sum()
            for bi, b in enumerate(self.weight_bits):
                total = total + ((w == b) * share).sum(axis=1) * self.weight_drop[li, bi]
            pruned = ((w == 0) * share).sum(axis=1)
            if pruned.any():
                if self.prune_drop is None:
                    raise ValueError("this proxy measured no pruning drops")
                xs = [0.0, *self.prune_fractions, 1.0]
                ys = [0.0, *self.prune_drop[li], self.fp_accuracy]
                total = total + np.interp(pruned, xs, ys)
        return np.minimum(total, self.fp_accuracy)

    def loss_indices(self, act_idx: np.ndarray, weight_idx: np.ndarray) -> np.ndarray:
        """Estimated loss (pp) from [P, L] indices into `act_bits` and `weight_bits`."""
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
    *,
    workload: str = "",
    progress: Callable[[], None] | None = None,
    ranking: Sequence[np.ndarray] | None = None,
    prunable: Sequence[bool] | None = None,
) -> SensitivityProxy:
    """Measure the per-layer PTQ accuracy drops on `val` (calibrating on `calib`).

    One quantized copy of the model is built once and switched in place per measurement;
    batch-norm statistics are re-estimated on `calib` before each evaluation. With a channel
    `ranking` (least important first), also the drop of pruning each `prunable` layer's
    least important `PRUNE_FRACTIONS` of channels.
    """
    fp_acc = evaluate(fp_model, val)
    gen = torch.Generator().manual_seed(0)
    calib_x = calib.tensors[0][torch.randperm(len(calib), generator=gen)[:512]]
    q = apply_config(fp_model, {s.source: _fp_layer(s) for s in layers})
    wd = np.zeros((len(layers), len(weight_bits)))
    ad = np.zeros((len(layers), len(act_bits)))

    def drop(lq: LayerQuant) -> float:
        apply_config(q, {lq.module: lq}, inplace=True)
        q.eval()
        q(calib_x)  # initialise activation step sizes
        reestimate_bn(q, calib_x)
        acc = evaluate(q, val)
        if progress:
            progress()
        return max(0.0, fp_acc - acc)

    for li, spec in enumerate(layers):
        for wi, w in enumerate(weight_bits):
            wd[li, wi] = drop(
                LayerQuant(
                    spec.name,
                    spec.source,
                    spec.kind.value,
                    None,
                    (w,) * spec.K,
                    fused=spec.fused,
                )
            )
        for ai, a in enumerate(act_bits):
            ad[li, ai] = drop(
                LayerQuant(spec.name, spec.source, spec.kind.value, a, (32,) * spec.K)
            )
    pd = None
    if ranking is not None:
        pd = np.zeros((len(layers), len(PRUNE_FRACTIONS)))
        for li, spec in enumerate(layers):
            if prunable is not None and not prunable[li]:
                pd[li] = fp_acc
                continue
            for fi, f in enumerate(PRUNE_FRACTIONS):
                bits = np.full(spec.K, 32)
                bits[ranking[li][: min(spec.K - 1, round(f * spec.K))]] = 0
                pd[li, fi] = drop(
                    LayerQuant(
                        spec.name,
                        spec.source,
                        spec.kind.value,
                        None,
                        tuple(int(b) for b in bits),
                        fused=spec.fused,
                    )
                )
        pd = np.maximum.accumulate(pd, axis=1)  # pruning more never hurts less
    # fewer bits never hurt less than more bits: remove measurement noise that says otherwise
    wd = _monotone(wd, weight_bits)
    ad = _monotone(ad, act_bits)
    return SensitivityProxy(
        tuple(s.name for s in layers),
        tuple(act_bits),
        tuple(weight_bits),
        wd,
        ad,
        fp_acc,
        PRUNE_FRACTIONS if pd is not None else (),
        pd,
    )


PRUNE_FRACTIONS = (0.25, 0.5, 0.75)


def _fp_layer(spec: LayerSpec) -> LayerQuant:
    return LayerQuant(
        spec.name, spec.source, spec.kind.value, None, (32,) * spec.K, fused=spec.fused
    )


def _monotone(drop: np.ndarray, bits: Sequence[int]) -> np.ndarray:
    """Make each row non-increasing in bit-width (running max from the widest to the narrowest)."""
    order = np.argsort(bits)[::-1]  # widest first
    out = drop.copy()
    out[:, order] = np.maximum.accumulate(drop[:, order], axis=1)
    return out
