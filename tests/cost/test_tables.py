"""Storage widths of activation tensors (`codesign/cost/tables.py`): a tensor read through an
add, an upsampling or a concat takes the activation width of the quantized layers downstream,
in the vectorised tables and in every family's exact price alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from codesign.core.types import Configuration, MapperSettings, Precision
from codesign.cost.tables import OUTPUT_BITS, activation_storage
from codesign.families import build_tables, price_network
from codesign.hw import load_hardware
from codesign.workload import extract

FAST = MapperSettings(samples=48, refine_rounds=0)  # storage does not depend on the mapping


@pytest.fixture(scope="module", params=["mpic", "eyeriss"])
def hw(request):
    return load_hardware(request.param)


class Skips(nn.Module):
    """conv -> add -> conv, conv -> upsample -> conv, and a concat of the upsampling."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.c3 = nn.Conv2d(4, 4, 3, padding=1)
        self.c4 = nn.Conv2d(4, 4, 3, padding=1)
        self.c6 = nn.Conv2d(8, 1, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.c1(x)
        y = a + self.c2(a)
        u = F.interpolate(self.c3(y), scale_factor=2, mode="nearest")
        return self.c6(torch.cat([self.c4(u), u], 1))


class ResidualOut(nn.Module):
    """A residual add whose sum is the network's output."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(4, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.c1(x)
        return y + self.c2(y)


ACT = {"c1": 8, "c2": 2, "c3": 8, "c4": 2, "c6": 4}
# every tensor at the widest activation bits of the quantized layers that read it, through the
# add, the upsampling and the concat; the logits (c6) at OUTPUT_BITS
SKIPS_BITS = {
    "x": 8,  # c1
    "c1": 8,  # c2 (2), and c3 (8) through the add
    "c2": 8,  # c3 through the add (was OUTPUT_BITS: no quantized reader without the add)
    "add": 8,  # c3
    "c3": 4,  # c4 (2) through the upsampling, c6 (4) through the upsampling and the concat
    "interpolate": 4,  # c4 (2), c6 (4) through the concat
    "c4": 4,  # c6 through the concat
    "cat": 4,  # c6
    "c6": OUTPUT_BITS,
}
# bytes: x 256, c1 256, c2 256, add 256, c3 128, interpolate 512, c4 512, cat 1024, c6 256;
# the peak runs the concat: interpolate + c4 + cat
SKIPS_PEAK = 512 + 512 + 1024


def _config(graph, act, mapping=0):
    prec = {
        s.name: Precision.uniform(act[s.name], act[s.name] if s.kind.has_weights else 8, s.K)
        for s in graph.quantizable
    }
    return Configuration(prec, {n: mapping for n in prec})


def _table_bits(graph, hw, act):
    """Storage bits of every tensor of the vectorised tables at per-layer activation bits."""
    t = build_tables(graph, hw, mapper=FAST)
    a = np.array([[t.act_bits.index(act[n]) for n in t.layer_names]])
    return t, dict(zip(t.tensor_names, t.tensor_bits(a)[0].tolist())), a


def test_skip_connections_store_at_their_readers_width(hw):
    g = extract(Skips(), torch.zeros(1, 4, 8, 8), "skips")
    bits, peak = activation_storage(g, ACT, max(hw.act_bits))
    assert {n: bits[n] for n in SKIPS_BITS} == SKIPS_BITS
    assert peak == SKIPS_PEAK
    t, tbits, a = _table_bits(g, hw, ACT)
    assert tbits == SKIPS_BITS
    nc = price_network(g, hw, _config(g, ACT), mapper=FAST)
    assert nc.peak_act_bytes == SKIPS_PEAK
    assert t.score_indices(a, np.zeros_like(a)).peak_act_bytes[0] == SKIPS_PEAK


def test_a_sum_that_is_the_output_stays_at_output_bits(hw):
    g = extract(ResidualOut(), torch.zeros(1, 4, 8, 8), "residual_out")
    act = {"c1": 4, "c2": 2}
    bits, _ = activation_storage(g, act, max(hw.act_bits))
    assert (bits["x"], bits["c1"], bits["c2"], bits["add"]) == (4, 2, OUTPUT_BITS, OUTPUT_BITS)
    assert _table_bits(g, hw, act)[1] == {n: bits[n] for n in g.liveness()[0]}


RESIDUAL_OUTPUTS = ("stack1.conv2", "stack2.conv2", "stack2.shortcut", "stack3.conv2")


@pytest.mark.parametrize("a", [8, 4])
def test_resnet8_residual_branches_store_at_the_activation_width(graphs, hw, a):
    """Uniform wAaA on ResNet-8: every residual branch's output (once OUTPUT_BITS: 32 bits)
    at a bits; the peak is three 16 x 32 x 32 maps (the stem's output, the first block's
    second conv and their sum) at a bits."""
    g = graphs("resnet8")
    act = {s.name: a for s in g.quantizable}
    bits, peak = activation_storage(g, act, max(hw.act_bits))
    branches = (*RESIDUAL_OUTPUTS, "stack3.shortcut")
    assert {n: bits[n] for n in branches} == dict.fromkeys(branches, a)
    assert [n for n, b in bits.items() if b != a] == ["fc"]  # the logits
    assert bits["fc"] == OUTPUT_BITS
    assert peak == 3 * 16 * 32 * 32 * a / 8
    nc = price_network(g, hw, _config(g, act), mapper=FAST)
    assert nc.peak_act_bytes == peak
    t, tbits, ai = _table_bits(g, hw, act)
    assert all(tbits[n] == a for n in branches)
    assert t.score_indices(ai, np.zeros_like(ai)).peak_act_bytes[0] == peak


def test_mixed_bits_tables_equal_exact_storage(graphs, hw):
    g = graphs("resnet8")
    rng = np.random.default_rng(1)
    for _ in range(4):
        act = {s.name: int(rng.choice(hw.act_bits)) for s in g.quantizable}
        bits, peak = activation_storage(g, act, max(hw.act_bits))
        t, tbits, a = _table_bits(g, hw, act)
        assert tbits == {n: bits[n] for n in t.tensor_names}
        # the widest reader through the add: stack1.conv2 feeds stack2.conv1 and .shortcut
        assert bits["stack1.conv2"] == max(act["stack2.conv1"], act["stack2.shortcut"])
        assert t.score_indices(a, np.zeros_like(a)).peak_act_bytes[0] == pytest.approx(peak)
