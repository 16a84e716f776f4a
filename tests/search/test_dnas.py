"""DNAS's mixture layer: the batched forward pins the per-bit-width loop it replaced."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from codesign.families import build_tables
from codesign.quant.fakequant import _grad_scale, conv_or_linear, fake_quant, weight_range
from codesign.search.dnas import DnasLayer
from codesign.search.space import GroupSpace


def _loop_forward(layer: DnasLayer, x: torch.Tensor, pa, pw) -> torch.Tensor:
    """The forward pass as DNAS computed it before batching: one fake-quant per bit-width."""
    xs = 0.0
    for i, a in enumerate(layer.act_set):
        lo, hi = layer._arange(a)
        g = 1.0 / float(x[0].numel() * hi) ** 0.5
        step = _grad_scale(layer.a_steps[str(a)], g).abs().clamp(min=1e-8)
        xs = xs + pa[i] * fake_quant(x, step, lo, hi)
    w = layer.inner.weight
    view = (-1,) + (1,) * (w.dim() - 1)
    wq = 0.0
    for j, b in enumerate(layer.levels):
        if b == 0:
            continue
        qmin, qmax = weight_range(torch.tensor([b]))
        g = 1.0 / float(w[0].numel() * max(1.0, float(qmax))) ** 0.5
        step = _grad_scale(layer.w_steps[str(b)], g).abs().clamp(min=1e-8).reshape(view)
        wq = wq + pw[:, j].reshape(view) * fake_quant(w, step, float(qmin), float(qmax))
    bias = layer.inner.bias
    if bias is not None and layer.levels[0] == 0:
        bias = bias * (1.0 - pw[:, 0])
    return conv_or_linear(layer.inner, xs, wq, bias)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_the_batched_mixture_equals_the_loop_in_values_and_gradients(kind, signed):
    torch.manual_seed(0)
    inner = nn.Conv2d(3, 6, 3, padding=1) if kind == "conv" else nn.Linear(12, 5)
    K = inner.weight.shape[0]
    layer = DnasLayer(inner, (2, 4, 8), np.array([0, 2, 4, 8]), (K // 2, K - K // 2))
    x = torch.randn(4, 3, 5, 5) if kind == "conv" else torch.randn(4, 12)
    x = x if signed else x.abs()
    layer.eval()
    layer(x)  # fixes the activation steps and the sign
    with torch.no_grad():  # soft, unequal probabilities: every bit-width contributes
        layer.alpha_w.normal_()
        layer.alpha_a.normal_()

    # the draw as a function of the logits, so gradients reach them through both paths
    def soft():
        return F.softmax(layer.alpha_a, 0), F.softmax(layer.alpha_w, 1)[layer.group_of]

    layer.sample = soft
    params = list(layer.parameters())
    out = layer(x)
    grads = torch.autograd.grad((out**2).sum(), params, allow_unused=True)
    pa, pw = layer.sample()
    ref = _loop_forward(layer, x, pa, pw)
    ref_grads = torch.autograd.grad((ref**2).sum(), params, allow_unused=True)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    for g, r in zip(grads, ref_grads):
        if r is None:
            assert g is None or not g.abs().any()
            continue
        assert g is not None
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_cost_terms_gathered_once_give_the_same_expected_cost(trained, mpic):
    from codesign.core.types import Objective
    from codesign.search.dnas import (
        DnasProblem,
        _GeneLayout,
        _input_layers,
        build_dnas_model,
        cost_terms,
        expected_cost,
    )

    m, g, d = trained
    t = build_tables(g, mpic)
    space = GroupSpace(t, 1)
    for obj in (Objective.LATENCY, Objective.ENERGY, Objective.MEMORY):
        _, layers = build_dnas_model(DnasProblem(m, g, d.train, t, obj), _GeneLayout(space, t))
        with torch.no_grad():
            for layer in layers:
                layer.alpha_w.normal_()
                layer.alpha_a.normal_()
        inputs = _input_layers(t)
        once = expected_cost(layers, t, obj, inputs, cost_terms(layers, t, obj))
        assert float(once.detach()) > 0
        assert float(once) == pytest.approx(float(expected_cost(layers, t, obj, inputs)))
