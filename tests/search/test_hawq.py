"""`--strategy hawq`: Hessian sensitivities, exact integer programs under budgets, runs."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from codesign.core.types import Objective
from codesign.families import build_tables
from codesign.hw import load_hardware
from codesign.search.dnas import DnasProblem
from codesign.search.hawq import HawqProgram, HawqStrategy
from codesign.search.space import GroupSpace, LayerwiseSpace

from ..conftest import ROOT

EYERISS = ROOT / "hw_models" / "eyeriss.yaml"


def _strategy(trained, hw, objective, space_of=None, generations=5):
    m, g, d = trained
    t = build_tables(g, hw)
    space = (space_of or (lambda t: LayerwiseSpace(t, tuple(int(k) for k in t.channels))))(t)
    s = HawqStrategy(
        generations=generations,
        problem=DnasProblem(m, g, d.train, t, objective),
        draws=16,
        samples=256,
    )
    s.setup(space, 3, seed=0)
    return s, space, t


def _sweep(s):
    out = []
    while (X := s.ask()) is not None:
        out.append(X)
        s.tell(X, None, None)
    return out


@pytest.mark.parametrize(
    ("hw", "objective", "grouped"),
    [
        ("mpic", Objective.LATENCY, False),
        ("mpic", Objective.MEMORY, True),
        ("eyeriss", Objective.ENERGY, False),
    ],
)
def test_every_solution_fits_its_budget_and_the_sweep_spans_the_range(
    trained, mpic, hw, objective, grouped
):
    """The exact price (cost tables) of each budget's configuration is within its budget; the
    first budget is the cheapest configuration and the last the widest; sensitivity falls as
    the budget grows."""
    hardware = mpic if hw == "mpic" else load_hardware(EYERISS)
    s, space, t = _strategy(
        trained, hardware, objective, (lambda t: GroupSpace(t, 4)) if grouped else None
    )
    X = _sweep(s)
    assert len(X) == 5 and s.generation == 5
    for e in s.log:
        assert e["optimal"]
        assert e["cost"] <= e["budget"] * (1 + 1e-9)
    b = space.decode(np.vstack(X))
    widest, fewest = max(t.weight_bits), min(t.weight_bits)
    assert all((w[-1] == widest).all() for w in b.weight_bits)
    assert (b.act_bits[-1] == max(t.act_bits)).all()
    assert s.log[0]["cost"] == pytest.approx(s.budgets[0], rel=1e-9)
    if objective != Objective.MEMORY:  # memory: activations cost nothing, any width is cheapest
        assert all((w[0] == fewest).all() for w in b.weight_bits)
    sens = [e["sensitivity"] for e in s.log]
    assert all(a >= b_ for a, b_ in zip(sens, sens[1:]))
    assert len({tuple(x.ravel()) for x in X}) >= 3  # the sweep moves
    if hw == "eyeriss":  # each layer its cheapest mapping at its precision
        for r in range(len(b)):
            ai = [t.act_bits.index(int(x)) for x in b.act_bits[r]]
            wi = [t.weight_bits.index(int(w[r].max())) for w in b.weight_bits]
            best = [int(t.energy_j[li, ai[li], wi[li]].argmin()) for li in range(t.num_layers)]
            assert b.mapping[r].tolist() == best


def test_the_program_is_exactly_optimal(trained, mpic):
    """Against every one of the 9^5 layer-wise configurations of digits_cnn on MPIC: at each
    budget, no configuration that fits is less sensitive than the program's."""
    s, space, t = _strategy(trained, mpic, Objective.LATENCY, generations=6)
    p = s.program
    L, A, W = t.num_layers, len(t.act_bits), len(t.weight_bits)
    choices = np.array(list(itertools.product(range(A * W), repeat=L)))  # [N, L]
    a, w = choices // W, choices % W
    layers = np.arange(L)
    sens = sum(p.omega_a[li][a[:, li]] + p.omega_w[li][0, w[:, li]] for li in layers)
    cost = p.fixed + sum(p.cost[li][a[:, li], w[:, li]] for li in layers)
    exact = t.score_indices(a, w).cycles
    np.testing.assert_allclose(cost, exact, rtol=1e-9)  # the program prices as the tables
    for budget in s.budgets:
        act, weight, info = p.solve(float(budget))
        got = p.sensitivity(act, weight)
        best = float(sens[cost <= budget * (1 + 1e-12)].min())
        assert got <= best * (1 + 1e-6) + 1e-15
        assert p.choice_cost(act, weight) <= budget * (1 + 1e-9)


def test_more_sensitive_layers_get_more_bits():
    """Two layers at equal costs, one 100 times more sensitive: under a middle budget the
    sensitive one takes the wider bits; swap the sensitivities and the choice swaps."""
    cost = [np.array([[1.0, 2.0, 4.0]]), np.array([[1.0, 2.0, 4.0]])]  # [A=1, W=3]
    share = [np.ones(1), np.ones(1)]
    pert = np.array([[16.0, 1.0, 1 / 16]])  # ||Q(W)-W||^2 at 2 / 4 / 8 bits

    def bits(scale0, scale1):
        p = HawqProgram([scale0 * pert, scale1 * pert], [np.zeros(1)] * 2, cost, share, 0.0)
        return [int(w[0]) for w in p.solve(6.0)[1]]

    assert bits(100.0, 1.0) == [2, 1]  # 8 bits for layer 0, 4 bits for layer 1 (cost 6)
    assert bits(1.0, 100.0) == [1, 2]


def test_hawq_is_deterministic_and_resumes(trained, mpic):
    a, space, _ = _strategy(trained, mpic, Objective.LATENCY, generations=4)
    first = a.ask()
    a.tell(first, None, None)
    state = a.state()
    rest = _sweep(a)
    b, _, _ = _strategy(trained, mpic, Objective.LATENCY, generations=4)
    b.restore(state)
    assert b.generation == 1 and len(b.log) == 1
    np.testing.assert_array_equal(np.vstack(_sweep(b)), np.vstack(rest))
    c, _, _ = _strategy(trained, mpic, Objective.LATENCY, generations=4)
    np.testing.assert_array_equal(c.ask(), first)


@pytest.mark.parametrize("hw", ["mpic", "eyeriss"])
def test_hawq_runs_end_to_end(run_explore, results_dir, hw):
    """Through `explore` on MPIC and on Eyeriss: every candidate is hawq's, the front is
    fine-tuned, run.json logs one solve per budget and the Hessian."""
    from codesign.run import RunDir

    res = run_explore(
        hw=ROOT / "hw_models" / f"{hw}.yaml",
        estimator="proxy",
        strategy="hawq",
        generations=3,
        finetune_top=1,
        finetune_steps=30,
        out=results_dir / f"hawq-{hw}",
    )
    assert res.front.strategy == "hawq"
    assert all(c.strategy == "hawq" for c in res.front.candidates)
    assert any(c.finetuned_accuracy is not None for c in res.front.candidates)
    log = RunDir(res.run_dir).read_info()["strategy_log"]
    assert [e["generation"] for e in log] == [0, 1, 2]
    assert all(e["cost"] <= e["budget"] * (1 + 1e-9) for e in log)
    assert log[0]["hutchinson_draws"] > 0 and len(log[0]["weight_trace"]) == 5
    assert 1 <= res.evaluated <= 3
    json.dumps(log)  # run.json holds plain numbers


def test_hawq_through_the_cli_by_group(results_dir, capsys):
    from codesign.cli import main

    out = results_dir / "hawq-cli"
    rc = main(
        [
            "explore",
            "--hw",
            str(ROOT / "hw_models" / "mpic.yaml"),
            "--workload",
            "digits_cnn",
            "--strategy",
            "hawq",
            "--granularity",
            "group:8",
            "--regulariser",
            "size",
            "--generations",
            "2",
            "--estimator",
            "proxy",
            "--finetune-top",
            "0",
            "--anchors",
            "0",
            "--results-dir",
            str(results_dir),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    rows = (out / "candidates.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",hawq," in r for r in rows[1:])
