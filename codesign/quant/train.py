"""Training, evaluation and short quantized fine-tunes (straight-through fake quantization)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from codesign.quant.apply import apply_config
from codesign.quant.config import QuantConfig


@dataclass(frozen=True)
class TrainRecipe:
    """Hyper-parameters of a training or fine-tuning run (steps are optimiser steps)."""

    steps: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 0.0


FP_RECIPE = TrainRecipe(steps=1200, lr=3e-3, batch_size=64, weight_decay=1e-4)
FINETUNE_RECIPE = TrainRecipe(steps=300, lr=1e-3, batch_size=64)


def _batches(data: TensorDataset, batch_size: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield from DataLoader(
            data, batch_size=batch_size, shuffle=True, generator=gen, drop_last=True
        )


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorDataset, batch_size: int = 512) -> float:
    """Top-1 accuracy of `model` on `data`, in percent (model put in eval mode)."""
    model.eval()
    correct = 0
    for x, y in DataLoader(data, batch_size=batch_size):
        correct += int((model(x).argmax(1) == y).sum())
    return 100.0 * correct / len(data)


def _fit(model: nn.Module, data: TensorDataset, recipe: TrainRecipe, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, recipe.steps))
    model.train()
    batches = _batches(data, recipe.batch_size, seed)
    for _ in range(recipe.steps):
        x, y = next(batches)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model


def train_full_precision(
    model: nn.Module, data: TensorDataset, recipe: TrainRecipe = FP_RECIPE, seed: int = 0
) -> nn.Module:
    """Train `model` in place from its initialisation; returns it in eval mode."""
    return _fit(model, data, recipe, seed)


@torch.no_grad()
def calibrate(qmodel: nn.Module, data: TensorDataset, samples: int = 256, seed: int = 0) -> None:
    """Initialise activation step sizes with one forward pass over `samples` training inputs."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=gen)[:samples]
    qmodel.eval()
    qmodel(data.tensors[0][idx])


def quantize_ptq(
    fp_model: nn.Module, config: QuantConfig, calib: TensorDataset, seed: int = 0
) -> nn.Module:
    """Post-training fake quantization: apply `config` and calibrate; returns a new model."""
    q = apply_config(fp_model, config)
    calibrate(q, calib, seed=seed)
    return q


@dataclass(frozen=True)
class FinetuneResult:
    """Held-out accuracy (percent) after a short QAT, and its final training loss."""

    accuracy: float
    ptq_accuracy: float
    final_loss: float


def finetune(
    fp_model: nn.Module,
    config: QuantConfig,
    train: TensorDataset,
    test: TensorDataset,
    recipe: TrainRecipe = FINETUNE_RECIPE,
    seed: int = 0,
) -> FinetuneResult:
    """Quantization-aware fine-tune of a copy of `fp_model` under `config`; scores it on `test`.

    Weights and LSQ step sizes are trained with straight-through rounding for `recipe.steps`
    steps. Returns the held-out accuracy before (PTQ) and after fine-tuning.
    """
    torch.manual_seed(seed)
    q = quantize_ptq(copy.deepcopy(fp_model), config, train, seed)
    ptq = evaluate(q, test)
    opt = torch.optim.AdamW(q.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, recipe.steps))
    q.train()
    batches = _batches(train, recipe.batch_size, seed)
    losses = []
    for _ in range(recipe.steps):
        x, y = next(batches)
        loss = F.cross_entropy(q(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    final = float(np.mean(losses[-20:])) if losses else float("nan")
    return FinetuneResult(accuracy=evaluate(q, test), ptq_accuracy=ptq, final_loss=final)
