"""Per-channel weight bits with pruning: propagation through adds, concats, depthwise and grouped
convs (hand-computed), and the vectorised channel scores equal to the exact model everywhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from codesign.core.candidates import CandidateBatch
from codesign.core.errors import ConfigError
from codesign.core.types import Precision
from codesign.cost.channels import CONCAT, INTERSECT, UNION, build_plan
from codesign.cost.tables import CHANNEL_PARAM_BITS
from codesign.families import build_tables, price_network
from codesign.workload import extract


class Branchy(nn.Module):
    """Every structure pruning must cross: a channel concat, a grouped conv, a depthwise conv, a
    residual add, a multiply (gating), global pooling and a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 8, 1, bias=False)
        self.b = nn.Conv2d(4, 8, 3, padding=1, bias=False)
        self.g = nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.gate = nn.Conv2d(16, 16, 1, bias=False)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], 1)
        z = F.relu(self.g(y))
        z = F.relu(self.dw(z)) + z
        z = F.relu(self.pw(z))
        z = z * F.relu(self.gate(z))
        return self.fc(z.mean((2, 3)))


@pytest.fixture(scope="module")
def branchy():
    return extract(Branchy(), torch.zeros(1, 4, 6, 6), "branchy")


def _full(graph, a=8, w=8):
    return {s.name: Precision.uniform(a, w, s.K) for s in graph.quantizable}


def test_plan_rules(branchy):
    plan = build_plan(branchy)
    rules = {n.name: n.rule for n in plan.nodes}
    assert rules["cat"] == CONCAT and rules["add"] == UNION and rules["mul"] == INTERSECT
    assert plan.nodes[plan.index["g"]].aligned and plan.nodes[plan.index["dw"]].aligned


def test_pruning_propagates_by_hand(mpic, branchy):
    g = branchy
    full = price_network(g, mpic, _full(g))
    # prune channels 0-3 of conv a: concat channels 0-3 die, so grouped conv group 0 (its output
    # channels 0-3 read concat channels 0-3) dies, then depthwise channels 0-3 die canonically
    cfg = {**_full(g), "a": Precision(8, (0, 0, 0, 0, 8, 8, 8, 8))}
    nc = price_network(g, mpic, cfg)
    per_ch = 6 * 6 * 9  # MACs per output channel of g (4 inputs per group, 3x3) / 4 inputs
    assert nc.layers["g"].cycles == pytest.approx(12 * per_ch * 4 / 2.1)
    assert nc.layers["dw"].cycles == pytest.approx(12 * 36 * 9 / 2.1)
    assert nc.layers["dw"].weight_bytes == pytest.approx(12 * (9 * 8 + CHANNEL_PARAM_BITS) / 8)
    # the add keeps channels 0-3 dead (both operands dead): pw reads 12 of 16 channels
    assert nc.layers["pw"].cycles == pytest.approx(full.layers["pw"].cycles * 12 / 16)
    assert nc.layers["add"].cycles == pytest.approx(full.layers["add"].cycles * 12 / 16)
    # half of a's output channels are pruned: a stores half the activation bytes it did
    assert nc.layers["a"].act_bytes < full.layers["a"].act_bytes


def test_residual_keeps_channels_alive(mpic, branchy):
    g = branchy
    # prune depthwise channels 0-7: the add's other operand (z) still has them, so pw keeps
    # every input channel
    cfg = {**_full(g), "dw": Precision(8, (0,) * 8 + (8,) * 8)}
    nc = price_network(g, mpic, cfg)
    full = price_network(g, mpic, _full(g))
    assert nc.layers["pw"].cycles == pytest.approx(full.layers["pw"].cycles)
    assert nc.layers["dw"].cycles == pytest.approx(full.layers["dw"].cycles / 2)


def test_gating_multiply_intersects(mpic, branchy):
    g = branchy
    cfg = {**_full(g), "gate": Precision(8, (0,) * 4 + (8,) * 12)}
    nc = price_network(g, mpic, cfg)
    full = price_network(g, mpic, _full(g))
    assert nc.layers["fc"].cycles == pytest.approx(full.layers["fc"].cycles * 12 / 16)


def test_cut_network_is_refused(mpic, branchy):
    g = branchy
    # g keeps only channel 15 and dw prunes channel 15: dw's other channels read dead inputs,
    # so dw keeps nothing (a layer with no channel counts as a cut network, even on a branch)
    cfg = {**_full(g), "g": Precision(8, (0,) * 15 + (8,)), "dw": Precision(8, (8,) * 15 + (0,))}
    t = build_tables(g, mpic)
    assert t.score(_batch(t, [cfg])).severed[0]
    with pytest.raises(ConfigError, match="'dw': pruning upstream leaves it no channel"):
        price_network(g, mpic, cfg)
    cfg["dw"] = Precision(8, (8,) * 16)
    assert not t.score(_batch(t, [cfg])).severed[0]
    with pytest.raises(ConfigError, match="every channel pruned"):
        price_network(g, mpic, {**_full(g), "a": Precision(8, (0,) * 8)})


def test_output_layer_cannot_prune(mpic, branchy):
    t = build_tables(branchy, mpic)
    assert t.prunable == (True,) * 6 + (False,)
    cfg = {**_full(branchy), "fc": Precision(8, (0, 8, 8, 8, 8))}
    with pytest.raises(ConfigError, match="cannot be pruned"):
        t.score(_batch(t, [cfg]))


def test_spatial_tables_refuse_channels(graphs):
    from codesign.hw import load_hardware

    from ..conftest import ROOT

    hw = load_hardware(ROOT / "hw_models" / "eyeriss.yaml")
    g = graphs("digits_cnn")
    t = build_tables(g, hw)
    assert not t.channelwise
    cfg = {s.name: Precision(8, (4,) * (s.K - 1) + (8,)) for s in g.quantizable}
    with pytest.raises(ConfigError, match="one weight bit-width per layer"):
        t.score(_batch(t, [cfg]))


def _batch(t, cfgs):
    """A per-channel `CandidateBatch` (one group per channel) of configurations."""
    names = t.layer_names
    return CandidateBatch(
        names,
        np.array([[c[n].act_bits for n in names] for c in cfgs]),
        tuple(np.array([c[n].weight_bits for c in cfgs]) for n in names),
        tuple((1,) * int(k) for k in t.channels),
    )


def _random_configs(draw, graph, tables, p):
    """`p` configurations: per layer a drawn pruning rate (heavy rates included, so cuts and
    dead depthwise channels occur) and bits drawn from a drawn seed."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    out = []
    for _ in range(p):
        cfg = {}
        for li, s in enumerate(graph.quantizable):
            rate = draw(st.sampled_from([0.0, 0.3, 0.7, 0.95])) if tables.prunable[li] else 0.0
            bits = rng.choice([2, 4, 8], size=s.K)
            bits[rng.random(s.K) < rate] = 0
            if not bits.any():
                bits[rng.integers(s.K)] = 8
            cfg[s.name] = Precision(int(rng.choice([2, 4, 8])), tuple(int(b) for b in bits))
        out.append(cfg)
    return out


@pytest.mark.parametrize(
    "name",
    ["branchy", "digits_cnn", "mnist1d_cnn", "resnet8", "dscnn", "mobilenet_v1_025", "autoencoder"],
)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_channel_scores_equal_exact_pricing(mpic, graphs, branchy, name, data):
    g = branchy if name == "branchy" else graphs(name)
    t = build_tables(g, mpic)
    cfgs = _random_configs(data.draw, g, t, data.draw(st.integers(1, 4)))
    s = t.score(_batch(t, cfgs))
    for p, cfg in enumerate(cfgs):
        if s.severed[p]:
            with pytest.raises(ConfigError, match="network is cut|every channel pruned"):
                price_network(g, mpic, cfg)
            continue
        nc = price_network(g, mpic, cfg)
        assert s.cycles[p] == pytest.approx(nc.cycles, rel=1e-9)
        assert s.energy_j[p] == pytest.approx(nc.energy_j, rel=1e-9)
        assert s.weight_bytes[p] == pytest.approx(nc.weight_bytes, rel=1e-9)
        assert s.peak_act_bytes[p] == pytest.approx(nc.peak_act_bytes, rel=1e-9)


def test_layerwise_batch_scores_the_same_both_ways(mpic, graphs):
    g = graphs("resnet8")
    t = build_tables(g, mpic)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, (8, t.num_layers))
    w = rng.integers(0, 3, (8, t.num_layers))
    fast = t.score_indices(a, w)
    cfgs = [
        {
            n: Precision.uniform(t.act_bits[a[p, i]], t.weight_bits[w[p, i]], g[n].K)
            for i, n in enumerate(t.layer_names)
        }
        for p in range(8)
    ]
    slow = t.score_channels(_batch(t, cfgs))
    np.testing.assert_allclose(fast.cycles, slow.cycles, rtol=1e-12)
    np.testing.assert_allclose(fast.weight_bytes, slow.weight_bytes, rtol=1e-12)
    np.testing.assert_allclose(fast.peak_act_bytes, slow.peak_act_bytes, rtol=1e-12)
