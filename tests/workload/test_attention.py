"""Attention and the other layer kinds of edge transformers and decoders: extraction, the
rewrite that makes attention traceable, quantization of both matmul operands, pricing bounds,
and a user's attention block explored end to end on MPIC and Eyeriss."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from codesign.core.errors import WorkloadError
from codesign.core.types import Configuration, LayerSpec, OpKind
from codesign.cost.nest import loop_bounds
from codesign.cost.spatial import compulsory_dram_bits, evaluate, peak_macs_per_cycle, traffic
from codesign.hw import load_hardware
from codesign.mapping.mapper import bypass_options
from codesign.mapping.space import sample_mappings
from codesign.quant.apply import apply_config
from codesign.quant.config import LayerQuant
from codesign.quant.fakequant import QuantMatMul
from codesign.workload import extract, get_workload
from codesign.workload.attention import MatMul, make_traceable


def _kinds(graph) -> dict[str, OpKind]:
    return {s.name: s.kind for s in graph.layers}


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_is_rewritten_exactly(batch_first):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(24, 3, batch_first=batch_first).eval()
    wrapper = nn.Sequential()
    wrapper.add_module("attn", mha)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = mha

        def forward(self, x):
            return self.attn(x, x, x)[0]

    net = Net().eval()
    x = torch.randn(2, 7, 24)
    rewritten = make_traceable(net)
    assert rewritten is not net and isinstance(net.attn, nn.MultiheadAttention)  # not changed
    assert torch.allclose(rewritten(x), net(x), atol=1e-5)
    kinds = _kinds(extract(net, x))
    assert kinds["attn.qk"] == kinds["attn.av"] == OpKind.MATMUL
    assert kinds["attn.softmax"] == OpKind.SOFTMAX
    assert all(kinds[f"attn.{p}"] == OpKind.LINEAR for p in "qkv") and kinds["attn.out"]


@pytest.mark.parametrize("norm_first", [True, False])
def test_transformer_encoder_is_rewritten_exactly(norm_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(
        16, 2, 32, dropout=0.0, batch_first=True, activation="gelu", norm_first=norm_first
    )
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16), enable_nested_tensor=False)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = enc

        def forward(self, x):
            return self.enc(x)

    net = Net().eval()
    x = torch.randn(3, 5, 16)
    assert torch.allclose(make_traceable(net)(x), net(x), atol=1e-5)
    g = extract(net, x[:1])
    kinds = _kinds(g)
    assert sum(k == OpKind.MATMUL for k in kinds.values()) == 4
    assert sum(k == OpKind.NORM for k in kinds.values()) == 5  # 2 per layer + the final one
    assert "enc.layers.0.activation" not in kinds  # GELU after linear1: in its requantisation


class _HandAttention(nn.Module):
    """Attention as users write it: bare matmuls, the scale, softmax, a GELU after an add."""

    def __init__(self, d: int = 8) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.act = nn.GELU()

    def forward(self, x):
        s = self.q(x) @ self.k(x).transpose(-2, -1) / math.sqrt(x.shape[-1])
        y = torch.softmax(s, dim=-1) @ self.v(x)
        return self.act(x + y).amax(dim=1)


def test_bare_matmuls_become_modules_named_after_their_owner():
    net = nn.Sequential(nn.Linear(4, 8), _HandAttention())
    x = torch.randn(1, 6, 4)
    g = extract(net, x)
    mm = [s for s in g.layers if s.kind == OpKind.MATMUL]
    assert [s.name for s in mm] == ["1.matmul", "1.matmul_1"]
    qk, av = mm
    assert (qk.N, qk.OY, qk.C, qk.K, qk.macs) == (1, 6, 8, 6, 6 * 8 * 6)
    assert (av.N, av.OY, av.C, av.K, av.macs) == (1, 6, 6, 8, 6 * 6 * 8)
    kinds = _kinds(g)
    assert kinds["softmax"] == OpKind.SOFTMAX and g["softmax"].ops == 4 * 36
    assert kinds["1.act"] == OpKind.ACT and g["1.act"].ops == 6 * 8  # after an add: priced
    assert kinds["amax"] == OpKind.MAXPOOL and g["amax"].ops == 6 * 8  # over the tokens
    assert isinstance(make_traceable(net).get_submodule("1.matmul"), MatMul)


def test_a_matmul_with_a_parameter_is_refused_with_its_node():
    class W(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 4))

        def forward(self, x):
            return x @ self.w

    with pytest.raises(WorkloadError, match="parameter operand; use nn.Linear"):
        extract(W(), torch.randn(1, 4))

    class WT(W):
        def forward(self, x):
            return x @ self.w.t()  # a parameter through a view is still a parameter

    with pytest.raises(WorkloadError, match="parameter operand; use nn.Linear"):
        extract(WT(), torch.randn(1, 4))


def test_transposed_conv_upsampling_and_norms():
    net = nn.Sequential(
        nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1),
        nn.GroupNorm(2, 4),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.SiLU(),
    )
    g = extract(net, torch.randn(1, 8, 5, 5))
    t = g["0"]
    assert t.kind == OpKind.TCONV and (t.OY, t.OX) == (10, 10)
    # each input pixel scatters a 4x4 window into every output channel
    assert t.macs == 8 * 4 * 4 * 4 * 5 * 5 and t.weight_count == 8 * 4 * 16
    assert g["1"].kind == OpKind.NORM and g["1"].ops == 5 * 4 * 10 * 10
    assert g["2"].kind == g["3"].kind == OpKind.UPSAMPLE
    assert g["2"].ops == 4 * 20 * 20 and g["3"].ops == 4 * 4 * 40 * 40
    assert g["4"].kind == OpKind.ACT
    # the sub-pixel loop nest does the same MACs when the stride divides the filter
    b, _, _, _ = loop_bounds(t)
    assert int(np.prod(b)) == t.macs and tuple(b) == (16, 8, 5, 5, 2, 2)


def test_both_matmul_operands_are_quantized():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mm = MatMul()

        def forward(self, x):
            return self.mm(x, x.transpose(-2, -1).relu())

    torch.manual_seed(0)
    net, x = Net(), torch.randn(2, 5, 6)
    q = apply_config(net, {"mm": LayerQuant("mm", "mm", "matmul", 2, (2,) * 5)})
    assert isinstance(q.mm, QuantMatMul)
    y = q(x)
    s = q.mm.a_step.detach().abs()
    assert bool(q.mm.a_signed[0]) and not bool(q.mm.a_signed[1])  # relu: unsigned
    qa = torch.clamp(torch.round(x / s[0]), -2, 1) * s[0]
    qb = torch.clamp(torch.round(x.transpose(-2, -1).relu() / s[1]), 0, 3) * s[1]
    assert torch.allclose(y, qa @ qb, atol=1e-6)
    assert len(torch.unique(qa)) <= 4 and len(torch.unique(qb)) <= 4
    y.sum().backward()  # LSQ step sizes learn for both operands
    assert q.mm.a_step.grad is not None and (q.mm.a_step.grad != 0).all()


def test_transformer_workloads_match_independent_counts():
    # vit_tiny: patch 16 conv, 4 blocks (qkv + out: 4 d^2, MLP 2 x 4 d^2; QK^T and AV per head
    # T x T x d_h), head 192 -> 1000; T = 196 tokens, d = 192, 3 heads
    T, d, h, blocks = 196, 192, 3, 4
    per_block = 4 * T * d * d + 2 * T * d * 4 * d + 2 * h * T * T * (d // h)
    macs = 3 * 16 * 16 * d * T + blocks * per_block + d * 1000
    weights = 3 * 16 * 16 * d + blocks * (4 * d * d + 8 * d * d) + d * 1000
    g = extract(get_workload("vit_tiny").build(), torch.randn(1, 3, 224, 224))
    assert (g.total_macs, g.total_weights) == (macs, weights)
    # kws_transformer: 49 frames of 10 MFCC -> 64, 4 encoder layers (2 heads, MLP 128), 12-way
    T, d, h, m = 49, 64, 2, 128
    per_block = 4 * T * d * d + 2 * T * d * m + 2 * h * T * T * (d // h)
    g = extract(get_workload("kws_transformer").build(), torch.randn(1, 1, 49, 10))
    assert g.total_macs == 10 * d * T + 4 * per_block + d * 12
    assert g.total_weights == 10 * d + 4 * (4 * d * d + 2 * d * m) + d * 12


@st.composite
def _matmul_or_tconv(draw) -> LayerSpec:
    if draw(st.booleans()):
        n, m, c, k = (draw(st.integers(1, hi)) for hi in (4, 64, 64, 64))
        return LayerSpec(
            "mm", OpKind.MATMUL, N=n, K=k, C=c, OY=m, input_shape=(1, n, m, c),
            output_shape=(1, n, m, k),
        )  # fmt: skip
    s, f = draw(st.sampled_from([(1, 3), (2, 2), (2, 3), (2, 4)]))
    iy, c, k = draw(st.integers(1, 12)), draw(st.integers(1, 32)), draw(st.integers(1, 32))
    o = (iy - 1) * s + f
    return LayerSpec(
        "t", OpKind.TCONV, K=k, C=c, OY=o, OX=o, FY=f, FX=f, stride=(s, s),
        input_shape=(1, c, iy, iy), output_shape=(1, k, o, o),
    )  # fmt: skip


@settings(max_examples=30, deadline=None)
@given(
    spec=_matmul_or_tconv(),
    hw_name=st.sampled_from(["eyeriss", "simba_like", "tpu_like"]),
    seed=st.integers(0, 99),
)
def test_matmul_and_tconv_never_beat_the_roofline_or_compulsory_traffic(spec, hw_name, seed):
    hw = load_hardware(hw_name)
    bounds, _, _, _ = loop_bounds(spec)
    ok, forced = bypass_options(hw)
    m = sample_mappings(
        bounds, hw.rows, hw.cols, hw.dataflows, 40, seed, bypass_ok=ok, bypass_forced=forced
    )
    tr = traffic(spec, m, hw.input_registers)
    if spec.kind == OpKind.MATMUL:  # every operand of every product once, at least
        real = spec.N * (spec.K * spec.C + spec.OY * spec.C + spec.OY * spec.K)
    else:
        iy, ix = spec.tconv_input_hw
        real = spec.weight_count + spec.C * iy * ix + spec.K * spec.OY * spec.OX
    for bits in (8, 4):
        c = evaluate(spec, hw, m, bits, bits, tr)
        assert (c.cycles >= spec.macs / peak_macs_per_cycle(hw, bits, bits) * (1 - 1e-9)).all()
        floor = compulsory_dram_bits(spec, bits, bits)
        assert floor >= real * bits * (1 - 1e-9)
        assert (c.dram_bits >= floor * (1 - 1e-9)).all()
        assert (c.utilization <= 1 + 1e-9).all()


ATTENTION_MODULE = textwrap.dedent(
    '''
    import torch
    from torch import nn


    class Block(nn.Module):
        """One attention block as written by hand: bare matmuls, softmax, LayerNorm, GELU."""

        def __init__(self, d=16):
            super().__init__()
            self.norm = nn.LayerNorm(d)
            self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
            self.proj = nn.Linear(d, d)
            self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

        def forward(self, x):
            h = self.norm(x)
            a = torch.softmax(self.q(h) @ self.k(h).transpose(-2, -1) * 0.25, dim=-1)
            x = x + self.proj(a @ self.v(h))
            return x + self.mlp(x)


    def model():
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 16), Block(), nn.Flatten(), nn.Linear(16 * 8, 3))
        return net, torch.zeros(1, 8, 4)


    def data():
        g = torch.Generator().manual_seed(0)
        y = torch.randint(0, 3, (900,), generator=g)
        x = torch.randn(900, 8, 4, generator=g) * 0.5
        x[torch.arange(900), :, y] += 1.0  # the class lights up one feature of every token
        return (x[:600], y[:600]), (x[600:750], y[600:750]), (x[750:], y[750:])
    '''
)


@pytest.mark.parametrize(
    "hw,estimator",
    [
        ("mpic", "proxy"),
        pytest.param("mpic", "supernet", marks=pytest.mark.slow),
        ("eyeriss", None),
    ],
)
def test_a_user_attention_block_explores(tmp_path, hw, estimator):
    """From the CLI, in a subprocess: on MPIC with its data (accuracy axis from the proxy or
    the supernet, fine-tuned with both matmul operands quantized), on Eyeriss with the costs
    (every layer mapped)."""
    (tmp_path / "myattn.py").write_text(ATTENTION_MODULE)
    out = tmp_path / "run"
    data = ["--data", "myattn:data", "--estimator", str(estimator), "--finetune-top", "1",
            "--supernet-steps", "60"]  # fmt: skip
    cmd = [
        sys.executable, "-m", "codesign.cli", "explore", "--hw", hw,
        "--workload", "myattn:model", "--generations", "3", "--pop-size", "8",
        "--finetune-steps", "20", "--threads", "1",
        "--results-dir", str(tmp_path / "results"), "--out", str(out),
        *(data if hw == "mpic" else ["--finetune-top", "0"]),
    ]  # fmt: skip
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    from codesign.run import RunDir

    front = RunDir(out).load_front()
    assert "1.matmul" in front.layers and "1.matmul_1" in front.layers
    for c in front.candidates:  # both operands of a matmul at its activation bits
        p = dict(zip(front.layers, c.precisions))["1.matmul"]
        assert set(p.weight_bits) == {p.act_bits}
    if hw == "mpic":
        assert front.objectives[0].value == "accuracy_loss" and front.fp_accuracy > 60
        assert any(c.finetuned_accuracy is not None for c in front.candidates)
    else:
        assert all(c.mapping for c in front.candidates)


@pytest.mark.parametrize("hw_name,granularity", [("mpic", "layer"), ("mpic", "channel"),
                                                 ("eyeriss", "layer")])  # fmt: skip
def test_tables_equal_exact_prices_on_a_transformer(graphs, hw_name, granularity):
    from codesign.families import build_tables, price_network
    from codesign.search.space import make_space

    hw, g = load_hardware(hw_name), graphs("kws_transformer")
    t = build_tables(g, hw)
    space = make_space(t, [s.K for s in g.quantizable], granularity)
    batch = space.decode(space.random(6, np.random.default_rng(0)))
    scores = t.score(batch)
    mm = [i for i, s in enumerate(g.quantizable) if s.kind == OpKind.MATMUL]
    assert len(mm) == 8 and t.weight_bytes[mm].max() == 0.0  # no weights stored
    for p in range(len(batch)):
        m = batch.mapping_of(p)
        cfg = Configuration(
            dict(zip(t.layer_names, batch.precisions(p))),
            dict(zip(t.layer_names, m)) if m is not None else {},
        )
        for i in mm:  # the second operand takes the activation bits
            prec = cfg.precisions[t.layer_names[i]]
            assert set(prec.weight_bits) == {prec.act_bits}
        nc = price_network(g, hw, cfg)
        assert nc.cycles == pytest.approx(scores.cycles[p])
        assert nc.energy_j == pytest.approx(scores.energy_j[p])
        assert nc.weight_bytes == pytest.approx(scores.weight_bytes[p])
        assert nc.peak_act_bytes == pytest.approx(scores.peak_act_bytes[p])


def test_channel_ranking_covers_matmuls_and_transposed_convs():
    from codesign.quant.importance import channel_ranking

    net = nn.Sequential(nn.Linear(4, 8), _HandAttention())
    x = torch.randn(1, 6, 4)
    g = extract(net, x)
    ranks = channel_ranking(make_traceable(net), g)
    assert [len(r) for r in ranks] == [s.K for s in g.quantizable]
    up = nn.Sequential(nn.ConvTranspose2d(3, 5, 2, stride=2))
    g = extract(up, torch.randn(1, 3, 4, 4))
    assert len(channel_ranking(up, g)[0]) == 5


@pytest.mark.parametrize("hw_name", ["mpic", "eyeriss"])
def test_per_element_kinds_are_priced_never_free(graphs, hw_name):
    """Norms, softmax, unfused activations and upsampling cost their operations at the
    hardware's element rate (never zero), and twice the elements cost twice."""
    from codesign.families import price_network

    hw = load_hardware(hw_name)

    def net(n: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(2, 4, 1), nn.GroupNorm(2, 4), nn.Upsample(scale_factor=2),
            nn.Conv2d(4, 4, 1), nn.Flatten(2), nn.Softmax(-1), nn.Flatten(), nn.Sigmoid(),
        )  # fmt: skip

    costs = []
    for side in (4, 8):
        g = extract(net(side), torch.randn(1, 2, side, side))
        prec = {s.name: _uniform(s, hw) for s in g.quantizable}
        nc = price_network(g, hw, Configuration(prec, {}))
        per = {n: nc.layers[n].cycles for n in g.order if g[n].kind in
               (OpKind.NORM, OpKind.UPSAMPLE, OpKind.SOFTMAX, OpKind.ACT)}  # fmt: skip
        assert len(per) == 4 and all(c > 0 for c in per.values())
        for n, c in per.items():
            assert c == pytest.approx(g[n].ops / hw.other_ops_per_cycle)
        costs.append(sum(per.values()))
    assert costs[1] == pytest.approx(4 * costs[0])  # 4x the elements


def _uniform(spec: LayerSpec, hw):
    from codesign.core.types import Precision

    return Precision.uniform(8, 8, spec.K)


def test_transposed_conv_is_quantized_per_output_channel():
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(3, 4, 2, stride=2))
    bits = (4, 0, 2, 8)  # channel 1 pruned
    q = apply_config(net, {"0": LayerQuant("0", "0", "tconv", 8, bits)})
    x = torch.randn(2, 3, 5, 5)
    y = q(x)
    assert y.shape == net(x).shape == (2, 4, 10, 10)
    assert (y[:, 1] == 0).all()  # the pruned channel is exactly zero, bias included
    ints, steps = q[0].integer_weights()  # [C_in, K, kh, kw]: output channels on dim 1
    for k, b in enumerate(bits):
        vals = ints[:, k]
        if b == 0:
            assert (vals == 0).all()
        else:
            assert vals.min() >= -(2 ** (b - 1)) and vals.max() <= 2 ** (b - 1) - 1
    assert steps.shape == (4,)
