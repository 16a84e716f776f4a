"""Training, evaluation and short quantized fine-tunes (straight-through fake quantization)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from codesign.quant.apply import apply_config
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.fakequant import quant_layers, reestimate_bn


@dataclass(frozen=True)
class TrainRecipe:
    """Hyper-parameters of a training or fine-tuning run (steps are optimiser steps)."""

    steps: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 0.0


FP_RECIPE = TrainRecipe(steps=1200, lr=3e-3, batch_size=64, weight_decay=1e-4)


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
    xs, ys = data.tensors[0], data.tensors[1]  # slices, not a DataLoader's per-example collation
    with torch.no_grad():
        for i in range(0, len(xs), batch_size):
            correct += int(
                (model(xs[i : i + batch_size]).argmax(1) == ys[i : i + batch_size]).sum()
            )
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
class FinetuneRecipe:
    """A short quantization-aware fine-tune, with optional refinements (all off by default).

    - `distill`: knowledge distillation from the full-precision model (Hinton et al. 2015):
      loss = (1 - kd_alpha) * CE + kd_alpha * T^2 * KL(teacher_T || student_T).
    - `progressive`: progressive quantization (Zhuang et al. 2018): weights first with
      full-precision activations, then activations; in each half the bit-widths come down
      stepwise from 8 to the target (a channel never goes below its target; 0 stays 0).
    - `stochastic`: stochastic precision (Zhuang et al. 2018 / SP-Nets): each step a random
      subset of layers runs at full precision, each with this probability at the start,
      falling linearly to 0 at 3/4 of the steps.
    """

    steps: int = 300
    lr: float = 1e-3
    batch_size: int = 64
    distill: bool = False
    kd_temperature: float = 4.0
    kd_alpha: float = 0.7
    progressive: bool = False
    stochastic: float = 0.0

    @property
    def name(self) -> str:
        """Short name: 'qat', or the refinements joined by '+' (e.g. 'kd+progressive')."""
        parts = [
            p
            for p, on in (
                ("kd", self.distill),
                ("progressive", self.progressive),
                ("stochastic", self.stochastic > 0),
            )
            if on
        ]
        if self.lr != FinetuneRecipe.lr:
            parts.append(f"lr={self.lr:g}")
        return "+".join(parts) or "qat"

    @classmethod
    def parse(cls, spec: str, steps: int = 300) -> FinetuneRecipe:
        """Recipe from 'qat', 'kd', 'kd+progressive', 'progressive+stochastic', ..., each
        optionally with a learning rate, 'lr=3e-3' (default 1e-3): 'kd+lr=3e-3'.

        Raises `ValueError` naming an unknown part or an impossible learning rate.
        """
        parts = {p.strip() for p in spec.split("+") if p.strip()}
        lr = cls.lr
        for p in [p for p in parts if p.startswith("lr=")]:
            parts.discard(p)
            try:
                lr = float(p[3:])
            except ValueError:
                raise ValueError(f"recipe part {p!r}: the learning rate is not a number") from None
            if not (np.isfinite(lr) and 0 < lr < 1):
                raise ValueError(f"recipe part {p!r}: the learning rate must be in (0, 1)")
        known = {"qat", "kd", "progressive", "stochastic"}
        bad = parts - known
        if bad or (not parts and lr == cls.lr):
            raise ValueError(
                f"unknown recipe part(s) {sorted(bad)}; combine {sorted(known)} with + "
                "(and optionally lr=<rate>)"
            )
        return cls(
            steps=steps,
            lr=lr,
            distill="kd" in parts,
            progressive="progressive" in parts,
            stochastic=0.5 if "stochastic" in parts else 0.0,
        )


def _progressive_phases(config: QuantConfig, steps: int) -> list[tuple[int, dict[str, LayerQuant]]]:
    """(start step, per-layer precision) phases: weights 8 -> target, then activations."""
    layers = config.layers
    targets = sorted(
        {b for lq in layers for b in lq.weight_bits if b > 0}
        | {lq.act_bits for lq in layers if lq.act_bits}
    )
    caps = [c for c in (8, 4, 2) if c >= min(targets)] if targets else [8]
    phases: list[dict[str, LayerQuant]] = []
    for cap in caps:  # weights only, lowered stepwise
        phases.append(
            {
                lq.module: replace(
                    lq,
                    act_bits=None,
                    weight_bits=tuple(0 if b == 0 else max(b, cap) for b in lq.weight_bits),
                )
                for lq in layers
            }
        )
    for cap in caps:  # then activations, lowered stepwise, weights at target
        phases.append(
            {
                lq.module: replace(
                    lq, act_bits=None if lq.act_bits is None else max(lq.act_bits, cap)
                )
                for lq in layers
            }
        )
    # drop phases identical to the previous one
    unique = [phases[0]] + [p for prev, p in zip(phases, phases[1:]) if p != prev]
    per = max(1, steps // len(unique))
    return [(i * per, ph) for i, ph in enumerate(unique)]


def _kd_loss(
    student: torch.Tensor, teacher: torch.Tensor, y: torch.Tensor, recipe: FinetuneRecipe
) -> torch.Tensor:
    t = recipe.kd_temperature
    soft = (
        F.kl_div(F.log_softmax(student / t, 1), F.softmax(teacher / t, 1), reduction="batchmean")
        * t
        * t
    )
    return (1 - recipe.kd_alpha) * F.cross_entropy(student, y) + recipe.kd_alpha * soft


@dataclass(frozen=True)
class FinetuneResult:
    """Held-out accuracy (percent) after a short QAT, before it (PTQ), and the final loss."""

    accuracy: float
    ptq_accuracy: float
    final_loss: float
    also: dict[str, float] = field(default_factory=dict)  # accuracy on the `also` splits
    model: nn.Module | None = field(default=None, repr=False, compare=False)  # the fine-tuned


def finetune(
    fp_model: nn.Module,
    config: QuantConfig,
    train: TensorDataset,
    test: TensorDataset,
    recipe: FinetuneRecipe | None = None,
    *,
    seed: int = 0,
    also: dict[str, TensorDataset] | None = None,
) -> FinetuneResult:
    """Quantization-aware fine-tune of a copy of `fp_model` under `config`; scores it on `test`
    (and on each split of `also`, by name, in `FinetuneResult.also`).

    Weights and LSQ step sizes are trained with straight-through rounding for `recipe.steps`
    steps, with the recipe's refinements. Batch-norm statistics are re-estimated on training
    data before each evaluation. Returns held-out accuracy before (PTQ) and after, in percent.
    """
    recipe = recipe or FinetuneRecipe()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    calib_x = train.tensors[0][
        torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:512]
    ]
    q = quantize_ptq(fp_model, config, train, seed)
    reestimate_bn(q, calib_x)
    ptq = evaluate(q, test)
    teacher = fp_model.eval() if recipe.distill else None
    phases = _progressive_phases(config, recipe.steps) if recipe.progressive else []
    layers = list(quant_layers(q).values())
    opt = torch.optim.AdamW(q.parameters(), lr=recipe.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, recipe.steps))
    q.train()
    batches = _batches(train, recipe.batch_size, seed)
    losses = []
    for step in range(recipe.steps):
        if phases:
            current = [ph for start, ph in phases if start <= step][-1]
            if step == 0 or any(start == step for start, _ in phases):
                apply_config(q, current, inplace=True)
                if step == phases[-1][0]:  # final phase: exactly the target config
                    apply_config(q, config, inplace=True)
        if recipe.stochastic > 0:
            p = recipe.stochastic * max(0.0, 1.0 - step / (0.75 * recipe.steps))
            for m in layers:
                m.bypass = bool(rng.random() < p)
        x, y = next(batches)
        out = q(x)
        if teacher is not None:
            with torch.no_grad():
                t_out = teacher(x)
            loss = _kd_loss(out, t_out, y, recipe)
        else:
            loss = F.cross_entropy(out, y)
        if not torch.isfinite(loss):  # diverged: stop here, the caller marks it failed
            losses.append(float("nan"))
            break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    for m in layers:
        m.bypass = False
    apply_config(q, config, inplace=True)  # no-op unless a phase left other bits
    reestimate_bn(q, calib_x)
    final = float(np.mean(losses[-20:])) if losses else float("nan")
    if not np.isfinite(final):
        return FinetuneResult(accuracy=float("nan"), ptq_accuracy=ptq, final_loss=final)
    extra = {name: evaluate(q, data) for name, data in (also or {}).items()}
    return FinetuneResult(evaluate(q, test), ptq, final, extra, q.eval())
