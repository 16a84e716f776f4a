"""Hessian-trace sensitivity (HAWQ-V2 / V3, Dong et al. 2020, Yao et al. ICML 2021).

The trace of the loss Hessian over a block of parameters is estimated with Hutchinson's method
(``Tr(H) = E[v^T H v]`` for Rademacher ``v``), each ``H v`` a second backward pass through
torch autograd, as PyHessian computes it. One ``v`` spans every block at once: its restriction
to a block is again Rademacher and the cross-block terms have zero mean, so one Hessian-vector
product per draw estimates every block's trace. The blocks are each quantizable layer's weights
per output channel (summed into layers or channel groups by the caller) and each layer's input
activations (the Hessian with respect to an intermediate tensor, HAWQ-V2's activation
sensitivity).

A block's sensitivity at a bit-width is then HAWQ-V3's
``Omega = Tr(H) / n * ||Q(W) - W||^2`` (`n` entries), the second-order estimate of the loss
increase (up to a factor 1/2) when the block is quantized to that width, with the quantizer
the fine-tunes start from: per-channel symmetric weights and per-tensor activations
(unsigned after a ReLU), step sizes from the same MSE search (`fakequant.mse_step`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from codesign.quant.fakequant import mse_step, weight_range

HESSIAN_SAMPLES = 512  # training samples the Hessian is taken over (one batch, as PyHessian)
HUTCHINSON_DRAWS = 64  # Rademacher vectors per estimate


@dataclass(frozen=True)
class HessianTraces:
    """Estimated Hessian traces of a model's quantizable layers.

    ``weight[l][k]``: trace over output channel k of layer l's weights; ``weight_count[l]``:
    weights per output channel; ``act[l]``: trace over layer l's input activations (the whole
    batch); ``act_count[l]``: their number; ``draws`` Rademacher vectors, ``samples`` inputs.
    """

    weight: tuple[np.ndarray, ...]
    weight_count: tuple[int, ...]
    act: np.ndarray
    act_count: tuple[int, ...]
    draws: int
    samples: int


def _forward_capturing(
    model: nn.Module, modules: Sequence[nn.Module], x: Tensor
) -> tuple[Tensor, list[Tensor]]:
    """Run `model` on `x`, returning its output and each module's input tensor (in graph)."""
    seen: list[Tensor | None] = [None] * len(modules)
    handles = []
    for i, m in enumerate(modules):

        def hook(_m: nn.Module, args: tuple, i: int = i) -> None:
            seen[i] = args[0]

        handles.append(m.register_forward_pre_hook(hook))
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    missing = [i for i, t in enumerate(seen) if t is None]
    if missing:
        raise ValueError(f"quantizable layers {missing} did not run in the forward pass")
    return out, [t for t in seen if t is not None]


def hutchinson_traces(
    model: nn.Module,
    modules: Sequence[nn.Module],
    x: Tensor,
    y: Tensor,
    draws: int = HUTCHINSON_DRAWS,
    seed: int = 0,
) -> HessianTraces:
    """Hutchinson estimates of the cross-entropy Hessian's trace, per output channel of each
    module's weight and over each module's input, on the batch ``(x, y)`` with the model in
    eval mode (batch-norms at their running statistics). Deterministic for a `seed`: the
    Rademacher vectors come from a generator of their own."""
    was_training = model.training
    model.eval()
    weights = [m.weight for m in modules]
    flags = [w.requires_grad for w in weights]
    for w in weights:
        w.requires_grad_(True)
    gen = torch.Generator().manual_seed(seed)
    try:
        xin = x.detach().clone().requires_grad_(True)  # so the first layer's input is in graph
        out, acts = _forward_capturing(model, modules, xin)
        loss = F.cross_entropy(out, y)
        params = [*weights, *acts]
        grads = torch.autograd.grad(loss, params, create_graph=True)
        w_tr = [torch.zeros(w.shape[0], dtype=torch.float64) for w in weights]
        a_tr = torch.zeros(len(acts), dtype=torch.float64)
        for d in range(draws):
            vs = [(torch.randint(0, 2, p.shape, generator=gen) * 2 - 1).to(p.dtype) for p in params]
            hv = torch.autograd.grad(
                grads, params, grad_outputs=vs, retain_graph=d < draws - 1, allow_unused=True
            )
            for i, w in enumerate(weights):
                if hv[i] is not None:
                    w_tr[i] += (vs[i] * hv[i]).detach().reshape(w.shape[0], -1).sum(1).double()
            for j in range(len(acts)):
                h = hv[len(weights) + j]
                if h is not None:
                    a_tr[j] += float((vs[len(weights) + j] * h).detach().sum())
    finally:
        for w, f in zip(weights, flags):
            w.requires_grad_(f)
        model.train(was_training)
    return HessianTraces(
        weight=tuple((t / draws).numpy() for t in w_tr),
        weight_count=tuple(int(w[0].numel()) for w in weights),
        act=(a_tr / draws).numpy(),
        act_count=tuple(int(a.numel()) for a in acts),
        draws=draws,
        samples=int(x.shape[0]),
    )


def capture_inputs(model: nn.Module, modules: Sequence[nn.Module], x: Tensor) -> list[Tensor]:
    """Each module's input on the batch `x` (eval mode, no gradients)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [a.detach() for a in _forward_capturing(model, modules, x)[1]]
    finally:
        model.train(was_training)


def weight_perturbation(weight: Tensor, bits: int) -> np.ndarray:
    """``||Q(W_k) - W_k||^2`` per output channel k at `bits` (per-channel symmetric, MSE step;
    0 bits: the channel's whole squared norm, a pruned channel)."""
    w = weight.detach()
    K = w.shape[0]
    if bits == 0:
        return (w.reshape(K, -1) ** 2).sum(1).double().numpy()
    qmin, qmax = weight_range(torch.full((K,), bits))
    step = mse_step(w, qmin, qmax, dim=0).clamp(min=1e-12)
    view = (K,) + (1,) * (w.dim() - 1)
    s = step.reshape(view)
    q = torch.clamp(torch.round(w / s), qmin.reshape(view), qmax.reshape(view)) * s
    return ((q - w).reshape(K, -1) ** 2).sum(1).double().numpy()


def act_perturbation(x: Tensor, bits: int) -> float:
    """``||Q(x) - x||^2`` of a batch of activations at `bits` (one step per tensor from the MSE
    search, unsigned where the batch is non-negative, as the fine-tunes quantize)."""
    x = x.detach()
    if bool((x < 0).any()):
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    else:
        lo, hi = 0.0, float(2**bits - 1)
    step = mse_step(x, lo, hi, dim=None)[0].clamp(min=1e-12)
    q = torch.clamp(torch.round(x / step), lo, hi) * step
    return float(((q - x) ** 2).sum())
