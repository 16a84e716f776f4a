"""MPIC cost model: hand-computed figures, per-channel pricing, properties, vectorised == exact."""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from codesign.core.errors import ConfigError
from codesign.core.types import OpKind, Precision
from codesign.cost.tables import CHANNEL_PARAM_BITS
from codesign.families import build_tables, price_network
from codesign.workload import extract
from codesign.workload.graph import LayerGraph

from ..strategies import conv_layers, genomes


def _single(spec) -> LayerGraph:
    g = nx.DiGraph()
    inp = dataclasses.replace(spec, name="in", kind=OpKind.INPUT, output_shape=spec.input_shape)
    g.add_node("in", spec=inp)
    g.add_node(spec.name, spec=spec)
    g.add_edge("in", spec.name)
    return LayerGraph(g, ["in", spec.name])


def _uniform(graph, a, w):
    return {s.name: Precision.uniform(a, w, s.K) for s in graph.quantizable}


def test_hand_computed_conv(mpic):
    # conv 16->32, 3x3, 8x8 output: 294,912 MACs
    m = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, bias=False))
    g = extract(m, torch.zeros(1, 16, 8, 8))
    nc = price_network(g, mpic, _uniform(g, 4, 2))
    macs = 32 * 16 * 9 * 64
    assert nc.cycles == pytest.approx(macs / 3.9)
    assert nc.latency_s == pytest.approx(macs / 3.9 / 250e6)
    assert nc.energy_j == pytest.approx(macs / 3.9 / 250e6 * 5.38e-3)
    assert nc.weight_bytes == pytest.approx((32 * 144 * 2 + 32 * CHANNEL_PARAM_BITS) / 8)
    # input 16x8x8 at 4 bits + output 32x8x8 at 32 bits (network output), both live at once
    assert nc.peak_act_bytes == pytest.approx(16 * 64 * 4 / 8 + 32 * 64 * 32 / 8)


def test_per_channel_bits_and_pruning(mpic):
    m = nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.ReLU(), nn.Conv2d(4, 2, 1, bias=False))
    g = extract(m, torch.zeros(1, 4, 5, 5))
    first, second = (s.name for s in g.quantizable)
    assign = {first: Precision(8, (8, 4, 2, 0)), second: Precision.uniform(8, 8, 2)}
    nc = price_network(g, mpic, assign)
    per_ch = 4 * 25  # MACs per output channel of the first conv
    assert nc.layers[first].cycles == pytest.approx(per_ch * (1 / 2.1 + 1 / 2.3 + 1 / 2.5))
    assert nc.layers[first].weight_bytes == pytest.approx(
        (4 * (8 + 4 + 2) + 3 * CHANNEL_PARAM_BITS) / 8
    )
    # one of four inputs of the second conv is pruned: it does 3/4 of its MACs
    assert nc.layers[second].cycles == pytest.approx(2 * 4 * 25 * 0.75 / 2.1)
    unpruned = price_network(g, mpic, {**assign, first: Precision(8, (8, 4, 2, 2))})
    assert nc.cycles < unpruned.cycles and nc.weight_bytes < unpruned.weight_bytes


def test_invalid_assignments_are_refused(mpic, graphs):
    g = graphs("digits_cnn")
    good = _uniform(g, 8, 8)
    name = g.quantizable[0].name
    with pytest.raises(ConfigError, match="activation bits 3 not supported"):
        price_network(g, mpic, {**good, name: Precision.uniform(3, 8, g[name].K)})
    with pytest.raises(ConfigError, match=r"weight bits \[5\] not supported"):
        price_network(g, mpic, {**good, name: Precision.uniform(8, 5, g[name].K)})
    with pytest.raises(ConfigError, match="every channel pruned"):
        price_network(g, mpic, {**good, name: Precision.uniform(8, 0, g[name].K)})
    with pytest.raises(ConfigError, match="no precision given"):
        price_network(g, mpic, {k: v for k, v in good.items() if k != name})


def test_pooling_and_add_are_priced_not_free(mpic, graphs):
    g = graphs("resnet8")
    nc = price_network(g, mpic, _uniform(g, 8, 8))
    add = g["add"]
    assert add.ops == 16 * 32 * 32
    assert nc.layers["add"].cycles == pytest.approx(add.ops / mpic.other_ops_per_cycle)
    assert nc.layers["pool"].cycles > 0


@pytest.mark.parametrize(
    "name", ["digits_cnn", "resnet8", "dscnn", "mobilenet_v1_025", "autoencoder"]
)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_vectorised_scores_equal_exact_pricing(mpic, graphs, name, data):
    g = graphs(name)
    t = build_tables(g, mpic)
    w, a = data.draw(genomes(t.num_layers, len(t.weight_bits), len(t.act_bits)))
    s = t.score_indices(a, w)
    for p in range(len(w)):
        assign = {
            n: Precision.uniform(t.act_bits[a[p, i]], t.weight_bits[w[p, i]], g[n].K)
            for i, n in enumerate(t.layer_names)
        }
        nc = price_network(g, mpic, assign)
        assert s.cycles[p] == pytest.approx(nc.cycles)
        assert s.weight_bytes[p] == pytest.approx(nc.weight_bytes)
        assert s.peak_act_bytes[p] == pytest.approx(nc.peak_act_bytes)


@settings(max_examples=60, deadline=None)
@given(spec=conv_layers(), a=st.sampled_from([2, 4, 8]), w=st.sampled_from([2, 4, 8]))
def test_properties_on_random_layers(mpic, spec, a, w):
    g = _single(spec)
    nc = price_network(g, mpic, _uniform(g, a, w))
    cost = nc.layers["l"]
    for v in (cost.cycles, cost.latency_s, cost.energy_j, cost.weight_bytes, cost.act_bytes):
        assert np.isfinite(v) and v >= 0
    # never faster than the best MACs/cycle of the core (roofline)
    best = max(max(r) for r in mpic.macs_per_cycle)
    assert cost.cycles >= spec.macs / best * (1 - 1e-12)
    # fewer bits never cost more memory or more cycles (MPIC's table is monotone)
    for a2 in (b for b in (2, 4, 8) if b <= a):
        for w2 in (b for b in (2, 4, 8) if b <= w):
            low = price_network(g, mpic, _uniform(g, a2, w2))
            assert low.weight_bytes <= nc.weight_bytes
            assert low.peak_act_bytes <= nc.peak_act_bytes
            assert low.cycles <= nc.cycles * (1 + 1e-12)


def test_memory_constraint_uses_l2(mpic, graphs):
    g = graphs("mobilenet_v1_025")
    t = build_tables(g, mpic)
    L = t.num_layers
    hi = t.score_indices(np.full((1, L), 2), np.full((1, L), 2))  # w8 a8
    lo = t.score_indices(np.zeros((1, L), int), np.zeros((1, L), int))  # w2 a2
    assert hi.peak_bytes[0] > lo.peak_bytes[0]
    small = build_tables(g, dataclasses.replace(mpic, l2_bytes=int(lo.peak_bytes[0]) + 1))
    assert small.memory_limit_bytes < hi.peak_bytes[0]
