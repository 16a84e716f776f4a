"""Fake quantization: values on the integer grid, per-channel bits, pruning, STE gradients."""

from __future__ import annotations

import torch
from torch import nn

from codesign.quant.fakequant import QuantLayer, fake_quant, mse_step, weight_range


def test_weight_range():
    qmin, qmax = weight_range(torch.tensor([8, 4, 2, 0]))
    assert qmin.tolist() == [-128, -8, -2, 0]
    assert qmax.tolist() == [127, 7, 1, 0]


def test_per_channel_levels_and_pruning():
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 4, 3, bias=True)
    q = QuantLayer(conv, act_bits=None, weight_bits=[8, 4, 2, 0])
    w = q.quantized_weight().detach()
    for ch, bits in enumerate([8, 4, 2]):
        levels = torch.unique(torch.round(w[ch] / q.w_step[ch].detach().abs()))
        assert len(levels) <= 2**bits
        assert levels.min() >= -(2 ** (bits - 1)) and levels.max() <= 2 ** (bits - 1) - 1
    assert len(torch.unique(w[2])) <= 4
    assert torch.all(w[3] == 0)
    out = q(torch.randn(2, 8, 5, 5))
    assert torch.all(out[:, 3] == 0)  # pruned channel: weights and bias gone


def test_more_bits_less_error():
    torch.manual_seed(0)
    w = torch.randn(16, 32)
    errs = []
    for b in (2, 4, 8):
        qmin, qmax = weight_range(torch.full((16,), b))
        step = mse_step(w, qmin, qmax, dim=0)
        wq = fake_quant(w, step[:, None], qmin[:, None], qmax[:, None])
        errs.append(float(((wq - w) ** 2).mean()))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 1e-4


def test_activation_quantization_and_gradients():
    torch.manual_seed(0)
    lin = nn.Linear(6, 3)
    q = QuantLayer(lin, act_bits=2, weight_bits=[4, 4, 4])
    x = torch.rand(32, 6)  # non-negative -> unsigned 2-bit grid: 4 levels
    q(x)
    assert not bool(q.a_signed)
    xq = fake_quant(x, q.a_step.detach(), 0, 3)
    assert len(torch.unique(xq)) <= 4
    loss = q(x).pow(2).sum()
    loss.backward()
    for p in (lin.weight, q.w_step, q.a_step):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
