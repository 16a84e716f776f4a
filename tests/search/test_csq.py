"""`--strategy csq`: bit planes with continuous gates, budgets, exact costs, runs and resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from codesign.core.types import Objective
from codesign.families import build_tables
from codesign.search.csq import CsqLayer, CsqStrategy, _Costs, build_csq_model
from codesign.search.dnas import DnasProblem, _GeneLayout
from codesign.search.space import GroupSpace, LayerwiseSpace


def test_bit_planes_start_at_the_quantized_weights():
    """Before training, a layer's bit planes hold its weights quantized on N planes + sign
    (per-channel scale), up to the sigmoid's shrink that the scale undoes."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    layer = CsqLayer(conv, planes=7, sizes=(4,), prunable=False)
    w = conv.weight.detach()
    s = w.abs().reshape(4, -1).amax(1).reshape(4, 1, 1, 1)
    q = torch.round(w / s * 127) / 127 * s
    assert torch.allclose(layer.weight().detach(), q, atol=1e-6)


def test_a_high_temperature_makes_bits_and_gates_exactly_binary():
    conv = torch.nn.Conv2d(2, 4, 1)
    layer = CsqLayer(conv, planes=3, sizes=(2, 2), prunable=True)
    layer.beta = 200.0
    with torch.no_grad():
        layer.mask[0] = -1.0  # shut every plane of the first two channels
    assert layer.undecided()[0] == 0
    keep = layer.keep()
    assert keep.tolist() == [0.0, 1.0]
    y = layer(torch.randn(5, 2, 3, 3))
    assert (y[:, :2] == 0).all()  # pruned channels: no weight, no bias


@pytest.mark.parametrize("objective", [Objective.MEMORY, Objective.LATENCY])
def test_decided_cost_is_the_tables_exact_cost(mpic, graphs, objective):
    """At the hardware's bit-widths the regulariser's cost of a decided configuration equals
    the cost tables' (weight bytes; cycles at the widest activation bits)."""
    g = graphs("mnist1d_cnn")
    t = build_tables(g, mpic)
    space = GroupSpace(t, 8)
    layout = _GeneLayout(space, t, "csq")
    costs = _Costs(t, layout, objective)
    rng = np.random.default_rng(3)
    X = space.random(1, rng)
    X[0, layout.act_offset :] = len(t.act_bits) - 1
    for li, lv in enumerate(layout.levels):  # no pruning: inputs stay whole
        o = layout.offsets[li]
        n = len(layout.sizes[li])
        X[0, o : o + n] = np.maximum(X[0, o : o + n], 1 if lv[0] == 0 else 0)
    batch = space.decode(X)
    first = [np.cumsum((0, *sz))[:-1] for sz in layout.sizes]  # each group's first channel
    bits = [np.asarray(w[0])[f] for w, f in zip(batch.weight_bits, first)]
    s = t.score(batch)
    exact = s.weight_bytes[0] if objective == Objective.MEMORY else s.cycles[0]
    assert costs.hard(bits) == pytest.approx(float(exact), rel=1e-5)


def test_budgets_order_the_decided_costs(trained, mpic):
    """A low budget ends cheaper than a high one, close to its budget, every gate decided."""
    m, g, d = trained
    t = build_tables(g, mpic)
    s = CsqStrategy(generations=2, problem=DnasProblem(m, g, d.train, t, Objective.MEMORY))
    s.steps = 200
    s.setup(LayerwiseSpace(t, tuple(int(k) for k in t.channels)), 3, seed=0)
    _, layers, low = s.train(0.45)
    _, _, high = s.train(0.9)
    assert low["achieved"] < high["achieved"]
    assert low["achieved"] < 0.6 and high["achieved"] > 0.7
    for info in (low, high):
        assert info["undecided"] / info["binary_of"] < 1e-3
    bits = s.costs.bits(layers)
    assert all(int(b) in t.weight_bits for bb in bits for b in bb)


def test_csq_proposes_every_activation_width_and_resumes(trained, mpic):
    m, g, d = trained
    t = build_tables(g, mpic)
    space = GroupSpace(t, 4)
    problem = DnasProblem(m, g, d.train, t, Objective.LATENCY)
    a = CsqStrategy(generations=3, problem=problem, steps=20)
    a.setup(space, 3, seed=0)
    X = a.ask()
    assert X.shape == (len(t.act_bits), space.n_var)
    b = space.decode(X)
    assert {int(x) for x in b.act_bits[:, 0]} == set(t.act_bits)
    assert all((w == w[:1]).all() for w in b.weight_bits)  # same weights in every row
    a.tell(X, None, None)
    state = a.state()
    expected = a.ask()
    c = CsqStrategy(generations=3, problem=problem, steps=20)
    c.setup(space, 3, seed=0)
    c.restore(state)
    assert c.generation == 1 and len(c.log) == 1
    np.testing.assert_array_equal(c.ask(), expected)


def test_csq_model_keeps_the_base_model_intact(trained, mpic):
    m, g, d = trained
    t = build_tables(g, mpic)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    layout = _GeneLayout(LayerwiseSpace(t, tuple(int(k) for k in t.channels)), t, "csq")
    model, layers = build_csq_model(DnasProblem(m, g, d.train, t, Objective.MEMORY), layout)
    assert len(layers) == t.num_layers
    model(d.train.tensors[0][:4]).sum().backward()
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


# mnist1d_cnn (43 s) is slow; digits_cnn runs the same path in the default suite
@pytest.mark.parametrize(
    "workload", ["digits_cnn", pytest.param("mnist1d_cnn", marks=pytest.mark.slow)]
)
def test_csq_runs_end_to_end(run_explore, results_dir, workload):
    res = run_explore(
        estimator="proxy",
        workload=workload,
        strategy="csq",
        generations=2,
        finetune_top=1,
        finetune_steps=30,
        out=results_dir / f"csq-{workload}",
    )
    assert res.front.strategy == "csq"
    assert all(c.strategy == "csq" for c in res.front.candidates)
    assert any(c.finetuned_accuracy is not None for c in res.front.candidates)
    from codesign.run import RunDir

    log = RunDir(res.run_dir).read_info()["strategy_log"]
    assert [e["generation"] for e in log] == [0, 1]
    assert res.evaluated == 2 * 3  # two budgets x three activation widths (fewer if equal)


def test_csq_refuses_a_ranked_channel_space(mpic, graphs):
    from codesign.core.errors import ConfigError
    from codesign.search.space import ChannelCountSpace

    t = build_tables(graphs("digits_cnn"), mpic)
    ranking = [np.arange(int(k)) for k in t.channels]
    with pytest.raises(ConfigError, match="csq searches one gene per channel group"):
        _GeneLayout(ChannelCountSpace(t, ranking), t, "csq")


def test_csq_on_eyeriss_picks_each_layers_cheapest_mapping(trained):
    """On hardware with a mapping choice, each proposal carries each layer's cheapest mapping."""
    from codesign.hw import load_hardware

    from ..conftest import ROOT

    m, g, d = trained
    t = build_tables(g, load_hardware(ROOT / "hw_models" / "eyeriss.yaml"))
    space = LayerwiseSpace(t, tuple(int(k) for k in t.channels))
    s = CsqStrategy(generations=1, problem=DnasProblem(m, g, d.train, t, Objective.ENERGY), steps=5)
    s.setup(space, 3, seed=0)
    X = s.ask()
    b = space.decode(X)
    L = t.num_layers
    for r in range(len(X)):
        a = [t.act_bits.index(int(x)) for x in b.act_bits[r]]
        w = [t.weight_bits.index(int(x[r].max())) for x in b.weight_bits]
        best = [int(t.energy_j[li, a[li], w[li]].argmin()) for li in range(L)]
        assert b.mapping[r].tolist() == best
