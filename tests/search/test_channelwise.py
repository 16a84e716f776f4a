"""Channel-wise precision with pruning, end to end: genomes, estimators, runs, export round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from codesign.config import DEFAULT_RECIPE
from codesign.core.errors import CodesignError
from codesign.core.types import Configuration
from codesign.exporters.config import export_config
from codesign.families import build_tables, price_network
from codesign.quant import apply_config, load_config
from codesign.quant.evaluate import make_task, run_finetune_task
from codesign.quant.fakequant import PrunedNorm
from codesign.quant.train import FinetuneRecipe
from codesign.search.space import ChannelCountSpace, GroupSpace, make_space
from codesign.workload import get_workload

from ..conftest import ROOT

CHANNEL_RUN = dict(
    estimator="proxy",
    workload="digits_cnn",
    granularity="channel",
    seed=1,
    pop_size=16,
    generations=4,
    finetune_top=2,
    finetune_steps=40,
)


def test_channel_space_cuts_follow_the_ranking(mpic, graphs):
    g = graphs("digits_cnn")
    t = build_tables(g, mpic)
    ranking = [np.random.default_rng(i).permutation(int(k)) for i, k in enumerate(t.channels)]
    space = ChannelCountSpace(t, ranking)
    assert space.n_var == 3 * 4 + 2 + 5  # 4 prunable layers x 3 cuts, the head 2, 5 act genes
    X = np.zeros((1, space.n_var))
    X[0, 0:3] = [5, 9, 12]  # first layer (16 channels): 5 pruned, 4 at 2, 3 at 4, 4 at 8
    X[0, space.act_offset :] = 2
    first = space.decode(X).weight_bits[0][0]
    assert (first[ranking[0][:5]] == 0).all() and (first[ranking[0][5:9]] == 2).all()
    assert (first[ranking[0][9:12]] == 4).all() and (first[ranking[0][12:]] == 8).all()
    # the cut genes decode the same in any order; a random population keeps every layer alive
    # where it prunes, and the head (the network's outputs) never prunes
    X2 = X.copy()
    X2[0, 0:3] = [12, 5, 9]
    assert (space.decode(X2).weight_bits[0] == space.decode(X).weight_bits[0]).all()
    b = space.decode(space.random(200, np.random.default_rng(0)))
    assert (b.weight_bits[-1] > 0).all()
    assert all((w > 0).any(axis=1).all() for w in b.weight_bits[:2])
    # uniform seeds decode to the layer-wise configurations
    seeds = space.decode(space.seeds())
    assert {int(w.min()) for w in seeds.weight_bits} == {2}


def test_depthwise_channels_die_with_their_input(mpic, graphs):
    g = graphs("digits_cnn")  # conv(16) -> conv(32) -> depthwise(32) -> pointwise(32) -> fc
    t = build_tables(g, mpic)
    space = GroupSpace(t, 8)
    assert space.sizes[0] == (8, 8) and space.n_var == 2 + 4 + 4 + 4 + 2 + 5
    X = space.xu[None].astype(float)  # every group at its widest bits
    X[0, space.offsets[1]] = 0  # prune the second conv's channels 0-7
    X[0, space.act_offset :] = 2
    b = space.decode(X)
    dw = b.weight_bits[2][0]
    assert (dw[:8] == 0).all() and (dw[8:] == 8).all()  # canonical: dead inputs, dead channels


def test_spatial_hardware_refuses_channel_granularity(run_explore, results_dir):
    with pytest.raises(CodesignError, match="runs one weight bit-width per layer"):
        run_explore(
            hw=ROOT / "hw_models" / "eyeriss.yaml",
            workload="digits_cnn",
            granularity="channel",
            objectives="latency,energy",
            generations=1,
            out=results_dir / "eyeriss-channel",
        )
    with pytest.raises(CodesignError, match="granularity"):
        run_explore(granularity="group:0", out=results_dir / "bad-granularity")


def test_supernet_zeroes_pruned_channels(trained):
    from codesign.quant.supernet import Supernet, TransitionalBN

    m, g, d = trained
    sn = Supernet(m, g, (2, 4, 8), (0, 2, 4, 8)).eval()
    n = len(g.quantizable)
    first = (0,) * 4 + (2,) * 4 + (8,) * 8
    outs = {}
    tbn = next(mod for mod in sn.modules() if isinstance(mod, TransitionalBN))
    tbn.register_forward_hook(lambda mod, i, o: outs.setdefault("bn", o))
    sn.set_config([8] * n, [first] + [8] * (n - 1))
    sn(d.test.tensors[0][:16])
    assert (outs["bn"][:, :4] == 0).all() and (outs["bn"][:, 4:] != 0).any()


def test_pruned_norm_makes_pruned_channels_zero():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model.eval()
    with torch.no_grad():
        model[1].bias.fill_(1.0)  # a plain pruned channel would come out at relu(1) = 1
    from codesign.quant.config import LayerQuant

    q = apply_config(model, {"0": LayerQuant("0", "0", "conv", 8, (0, 8, 8, 0), fused=("1",))})
    assert isinstance(q[1], PrunedNorm)
    q(torch.rand(2, 1, 6, 6))
    y = q(torch.rand(2, 1, 6, 6))
    assert (y[:, [0, 3]] == 0).all() and (y[:, [1, 2]] > 0).any()


def test_channel_run_exports_a_pruned_point_that_reproduces(run_explore, results_dir, tmp_path):
    res = run_explore(**CHANNEL_RUN, out=results_dir / "channel")
    front = res.front
    assert len(front) >= 2
    pruned = [
        (i, c)
        for i, c in enumerate(front.candidates)
        if c.finetuned_accuracy is not None and any(0 in p.weight_bits for p in c.precisions)
    ]
    assert pruned, "the fine-tuned points of this seed include a pruned one"
    pick, cand = pruned[0]
    path = export_config(res.run_dir, pick, tmp_path / "pruned.yaml")
    cfg = load_config(path)
    assert any(0 in lq.weight_bits for lq in cfg.layers)
    assert all(lq.fused for lq in cfg.layers[:-1])  # every conv names its batch-norm
    # the exported configuration is the one that was priced
    hw_path = ROOT / "hw_models" / "mpic.yaml"
    from codesign.hw import load_hardware
    from codesign.workload import extract

    wl = get_workload("digits_cnn")
    g = extract(wl.build(), wl.example_input())
    nc = price_network(
        g,
        load_hardware(hw_path),
        Configuration.over(front.layers, cand.precisions),
    )
    assert nc.cycles == pytest.approx(cand.cost.cycles)
    assert nc.peak_bytes == pytest.approx(cand.cost.peak_bytes)
    # and fine-tuning it again from the exported file reproduces the front's accuracy
    import io

    from codesign.cache import weights_hash

    base = wl.build()
    base.load_state_dict(torch.load(_fp_path(res), weights_only=True))
    buf = io.BytesIO()
    torch.save(base.state_dict(), buf)
    recipe = FinetuneRecipe.parse(DEFAULT_RECIPE, steps=CHANNEL_RUN["finetune_steps"])
    task = make_task(wl, (weights_hash(base), buf.getvalue()), cfg, recipe, CHANNEL_RUN["seed"])
    out = run_finetune_task(task)
    assert out["accuracy"] == pytest.approx(cand.finetuned_accuracy, abs=1e-9)


def _fp_path(res):
    from codesign.run import RunDir

    return RunDir(res.run_dir).read_info()["fp_model"]["cache"]


def test_dnas_runs_and_fills_the_same_run_format(run_explore, results_dir):
    res = run_explore(
        estimator="proxy",
        workload="digits_cnn",
        strategy="dnas",
        granularity="channel",
        seed=0,
        pop_size=8,
        generations=2,
        finetune_top=1,
        finetune_steps=30,
        out=results_dir / "dnas",
    )
    assert all(c.strategy == "dnas" for c in res.front.candidates)
    assert len(res.front) >= 1
    assert any(c.finetuned_accuracy is not None for c in res.front.candidates)


def test_make_space_names(mpic, graphs):
    t = build_tables(graphs("digits_cnn"), mpic)
    ks = [int(k) for k in t.channels]
    assert make_space(t, ks, "layer").name == "layer"
    assert make_space(t, ks, "channel").name == "channel"
    assert make_space(t, ks, "group:4").group == 4


@pytest.mark.parametrize("objective", ["latency", "memory"])
def test_dnas_expected_cost_is_exact_at_one_hot_probabilities(mpic, graphs, objective):
    """On a chain of convs (mnist1d_cnn), one-hot precision probabilities make the expected
    cost the exact table score of that configuration, pruning included."""
    from codesign.core.types import Objective
    from codesign.search.dnas import (
        DnasProblem,
        _GeneLayout,
        _input_layers,
        build_dnas_model,
        expected_cost,
    )

    wl = get_workload("mnist1d_cnn")
    model = wl.build()
    g = graphs("mnist1d_cnn")
    t = build_tables(g, mpic)
    space = GroupSpace(t, 1)
    obj = Objective(objective)
    problem = DnasProblem(model, g, None, t, obj)
    layout = _GeneLayout(space, t)
    _, layers = build_dnas_model(problem, layout)
    rng = np.random.default_rng(0)
    X = space.random(1, rng)
    X[0, space.offsets[0]] = 3  # keep a channel of the first layer, whatever the draw
    with torch.no_grad():
        for li, layer in enumerate(layers):
            o, G = layout.offsets[li], layer.alpha_w.shape[0]
            layer.alpha_w.zero_()
            layer.alpha_w[torch.arange(G), torch.as_tensor(X[0, o : o + G]).long()] = 60.0
            layer.alpha_a.zero_()
            layer.alpha_a[int(X[0, layout.act_offset + li])] = 60.0
    exp = float(expected_cost(layers, t, obj, _input_layers(t)).detach())
    s = t.score(space.decode(X))
    if obj == Objective.MEMORY:
        assert exp == pytest.approx(s.weight_bytes[0], rel=1e-4)
    else:
        fixed = float(np.asarray(t.node_fixed_cycles).sum())
        assert not s.severed[0]
        # weightless nodes (pooling, adds) are left out of the expectation: a constant at
        # full width; mnist1d_cnn has none
        assert fixed == 0
        assert exp == pytest.approx(s.cycles[0], rel=1e-4)


def test_dnas_resumes_exactly(trained, mpic):
    """A DNAS search restored from its state proposes what the uninterrupted one does."""
    from codesign.core.types import Objective
    from codesign.search.dnas import DnasProblem, DnasStrategy

    m, g, d = trained
    t = build_tables(g, mpic)
    space = GroupSpace(t, 8)
    problem = DnasProblem(m, g, d.train, t, Objective.LATENCY)
    a = DnasStrategy(pop_size=4, generations=3, problem=problem, steps=5)
    a.setup(space, 2, seed=0)
    a.tell(a.ask(), None, None)
    state = a.state()
    expected = a.ask()
    b = DnasStrategy(pop_size=4, generations=3, problem=problem, steps=5)
    b.setup(space, 2, seed=0)
    b.restore(state)
    assert b.generation == 1
    np.testing.assert_array_equal(b.ask(), expected)


def test_the_channel_front_reaches_uniform_w8a8(run_explore, results_dir):
    """Issue 24, item 3: on digits per channel, the fine-tuned front holds a point within
    0.5 pp of uniform w8a8's fine-tuned accuracy at no more than its cost; the uniform
    baselines are fine-tuned beside the front, so this holds whatever the estimates said."""
    import io

    from codesign.cache import weights_hash
    from codesign.core.types import Precision
    from codesign.hw import load_hardware
    from codesign.quant.config import LayerQuant, QuantConfig
    from codesign.workload import extract
    from tests.conftest import MPIC

    res = run_explore(**CHANNEL_RUN, baselines=True, out=results_dir / "channel-w8a8")
    front = res.front
    wl = get_workload("digits_cnn")
    base = wl.build()
    base.load_state_dict(torch.load(_fp_path(res), weights_only=True))
    g = extract(base, wl.example_input())
    cfg = QuantConfig(
        "digits_cnn",
        tuple(
            LayerQuant(s.name, s.source, s.kind.value, 8, (8,) * s.K, fused=s.fused)
            for s in g.quantizable
        ),
    )
    buf = io.BytesIO()
    torch.save(base.state_dict(), buf)
    recipe = FinetuneRecipe.parse(DEFAULT_RECIPE, steps=CHANNEL_RUN["finetune_steps"])
    task = make_task(wl, (weights_hash(base), buf.getvalue()), cfg, recipe, CHANNEL_RUN["seed"])
    w8a8 = run_finetune_task(task)["accuracy"]
    prec = tuple(Precision.uniform(8, 8, s.K) for s in g.quantizable)
    cost = price_network(g, load_hardware(MPIC), Configuration.over(front.layers, prec))
    reached = [
        c
        for c in front.candidates
        if c.finetuned_accuracy is not None
        and c.finetuned_accuracy >= w8a8 - 0.5
        and c.latency_ms <= cost.latency_s * 1e3 * (1 + 1e-9)
    ]
    assert reached, (w8a8, [(c.finetuned_accuracy, c.latency_ms) for c in front.candidates])
    # the uniform baselines were fine-tuned beside the front, whatever the estimates said
    from codesign.run import RunDir

    note = RunDir(res.run_dir).read_info()["finetune"]
    assert note["baselines"] >= 1, note


@pytest.mark.parametrize("granularity", ["channel", "group:4"])
def test_a_per_channel_first_population_holds_layerwise_genomes(mpic, graphs, granularity):
    """Half of a per-channel search's first draws are layer-wise configurations (each layer's
    channels at one non-zero bit-width, the layers differing), the space's own subset where
    the best layer-wise points lie; the other half are uniform draws, which prune."""
    g = graphs("digits_cnn")
    t = build_tables(g, mpic)
    ranking = [np.arange(int(k)) for k in t.channels]
    space = make_space(t, [int(k) for k in t.channels], granularity, ranking)
    X = space.initial(40, np.random.default_rng(0))
    assert X.shape == (40, space.n_var)
    assert ((X >= space.xl) & (X <= space.xu)).all()
    b = space.decode(X)
    per_layer = np.array(
        [[len(set(w[i].tolist())) == 1 and w[i, 0] > 0 for w in b.weight_bits] for i in range(40)]
    )
    layerwise = per_layer.all(axis=1)
    assert layerwise[:20].all() and not layerwise[20:].all()
    # the layer-wise half is not just the uniform seeds: layers take different bit-widths
    assert any(len({int(w[i, 0]) for w in b.weight_bits[:-1]}) > 1 for i in range(20))
    # same seed, same draws
    assert (space.initial(40, np.random.default_rng(0)) == X).all()
