"""Hutchinson's Hessian traces (`codesign.quant.hessian`) against exact Hessians."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from codesign.quant.hessian import act_perturbation, hutchinson_traces, weight_perturbation


def _tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 3))
    x = torch.randn(16, 4)
    y = torch.randint(0, 3, (16,))
    return model, x, y


def _exact_weight_traces(model: nn.Module, x: torch.Tensor, y: torch.Tensor, i: int) -> np.ndarray:
    """Per output channel, the trace of the exact Hessian over layer i's weights."""
    lin = model[i]
    w0 = lin.weight.detach().clone()

    def loss(w: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(model, {f"{i}.weight": w}, (x,))
        return F.cross_entropy(out, y)

    H = torch.autograd.functional.hessian(loss, w0)  # [K, C, K, C]
    K, C = w0.shape
    diag = H.reshape(K * C, K * C).diagonal().reshape(K, C)
    return diag.sum(1).double().numpy()


def test_hutchinson_trace_matches_the_exact_hessian_trace():
    """Per output channel and per layer, the estimate converges on the exact trace."""
    model, x, y = _tiny()
    layers = [model[0], model[2]]
    tr = hutchinson_traces(model, layers, x, y, draws=20000, seed=1)
    for j, i in enumerate((0, 2)):
        exact = _exact_weight_traces(model, x, y, i)
        assert abs(exact.sum()) > 1e-3  # a real curvature, not zero against zero
        np.testing.assert_allclose(tr.weight[j].sum(), exact.sum(), rtol=0.05)
        np.testing.assert_allclose(tr.weight[j], exact, rtol=0.2, atol=0.03 * abs(exact).max())
    assert tr.weight_count == (4, 3)


def test_activation_trace_matches_the_exact_hessian_over_the_input():
    """The trace over a layer's input equals the exact Hessian's with respect to that input."""
    model, x, y = _tiny()
    tr = hutchinson_traces(model, [model[0], model[2]], x, y, draws=4000, seed=2)
    h = torch.tanh(model[0](x)).detach()

    def tail(a: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model[2](a), y)

    H = torch.autograd.functional.hessian(tail, h).reshape(h.numel(), h.numel())
    exact = float(H.diagonal().sum())
    assert exact > 1e-4
    assert tr.act[1] == pytest.approx(exact, rel=0.05)
    assert tr.act_count == (16 * 4, 16 * 3)


def test_traces_are_deterministic_for_a_seed():
    model, x, y = _tiny()
    a = hutchinson_traces(model, [model[0]], x, y, draws=8, seed=5)
    b = hutchinson_traces(model, [model[0]], x, y, draws=8, seed=5)
    c = hutchinson_traces(model, [model[0]], x, y, draws=8, seed=6)
    np.testing.assert_array_equal(a.weight[0], b.weight[0])
    assert not np.array_equal(a.weight[0], c.weight[0])
    assert model.training  # left as it was found


def test_perturbation_falls_with_the_bits():
    torch.manual_seed(0)
    w = torch.randn(6, 5, 3)
    p = [weight_perturbation(w, b) for b in (0, 2, 4, 8)]
    assert p[0] == pytest.approx((w.reshape(6, -1) ** 2).sum(1).numpy())
    assert all((a > b).all() for a, b in zip(p, p[1:]))
    x = torch.relu(torch.randn(32, 8))
    q = [act_perturbation(x, b) for b in (2, 4, 8)]
    assert q[0] > q[1] > q[2] > 0
