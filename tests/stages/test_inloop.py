"""`--rescore-per-gen`: fine-tunes inside the search, the calibrated estimator, measured fronts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from codesign.core.errors import CodesignError
from codesign.core.pareto import pareto_mask
from codesign.stages.inloop import MIN_POINTS, CalibratedEstimator


class _Fixed:
    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)

    def loss(self, batch):
        return self.values[: len(batch)]


class _Batch:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def keys(self):
        return [bytes([i]) for i in range(self.n)]


def test_calibration_is_the_identity_until_enough_points_then_monotone():
    est = CalibratedEstimator(_Fixed([0.0, 1.0, 2.0, 5.0, np.nan]))
    est.fit([(0.0, 0.5), (1.0, 2.0)][: MIN_POINTS - 1])
    np.testing.assert_array_equal(est.loss(_Batch(4)), [0.0, 1.0, 2.0, 5.0])
    # measured losses: the estimator is too optimistic at the high end, and noisy
    est.fit([(0.0, 0.5), (1.0, 2.5), (2.0, 2.0), (3.0, 6.0)])
    out = est.loss(_Batch(5))
    assert np.isnan(out[4])
    assert (np.diff(out[:4]) >= 0).all()  # monotone
    assert out[0] == pytest.approx(0.5)
    assert out[3] == pytest.approx(6.0)  # beyond the last point: clipped to it
    assert est.raw[bytes([3])] == 5.0  # the raw estimate is kept for the next fit


INLOOP_RUN = dict(
    estimator="proxy",
    workload="digits_cnn",
    seed=2,
    pop_size=16,
    generations=3,
    rescore_per_gen=2,
    finetune_top=2,
    finetune_steps=30,
)


def test_front_is_built_from_measured_points_only(run_explore, results_dir):
    res = run_explore(**INLOOP_RUN, out=results_dir / "inloop")
    front = res.front
    assert len(front) >= 1
    for c in front.candidates:
        r = c.finetuned
        assert r is not None and r.ok and r.selected_on == "val"
        assert r.val_accuracy is not None and r.split == "test"
    info = json.loads((res.run_dir / "run.json").read_text())
    inloop = info["inloop"]
    rows = (res.run_dir / "inloop.csv").read_text().strip().splitlines()[1:]
    assert len(rows) == inloop["measured"] == inloop["computed"] + inloop["from_cache"]
    assert inloop["measured"] <= 2 * 4 + 2  # K per generation (3 + the initial one) + the end
    # the front is exactly the non-dominated set of the measured points, on validation losses
    import csv

    with (res.run_dir / "candidates.csv").open() as fh:
        cands = {int(r["id"]): r for r in csv.DictReader(fh)}
    metric = {"latency": "latency_ms", "energy": "energy_uj", "memory": "peak_kb"}
    fp_val = inloop["fp_val_accuracy"]
    ok = [r.split(",") for r in rows if r.split(",")[2] == "ok"]
    ids = np.array([int(r[1]) for r in ok])
    F = np.array(
        [
            [
                fp_val - float(r[4]) if o.value == "accuracy_loss" else float(cands[i][metric[o]])
                for o in front.objectives
            ]
            for i, r in zip(ids, ok)
        ]
    )
    feasible = np.array([cands[i]["feasible"] == "True" for i in ids])
    assert set(ids[pareto_mask(F, feasible)].tolist()) == {c.id for c in front.candidates}


def test_a_second_run_takes_every_in_loop_fine_tune_from_the_cache(run_explore, results_dir):
    first = run_explore(**INLOOP_RUN, out=results_dir / "inloop-a")
    again = run_explore(**INLOOP_RUN, out=results_dir / "inloop-b")
    info = json.loads((again.run_dir / "run.json").read_text())["inloop"]
    assert info["computed"] == 0 and info["from_cache"] == info["measured"]
    assert [c.finetuned_accuracy for c in again.front.candidates] == [
        c.finetuned_accuracy for c in first.front.candidates
    ]


def test_rescore_per_gen_needs_the_accuracy_objective(run_explore, results_dir):
    with pytest.raises(CodesignError, match="--rescore-per-gen"):
        run_explore(
            **{**INLOOP_RUN, "objectives": "latency,memory"}, out=results_dir / "inloop-cost"
        )


def test_the_checkpoint_holds_what_was_measured_and_restores_the_calibration(
    run_explore, results_dir
):
    from codesign.run import RunDir
    from codesign.search.checkpoint import Checkpointer
    from codesign.stages.inloop import InLoopRescorer

    res = run_explore(**INLOOP_RUN, out=results_dir / "inloop-ckpt")
    doc = Checkpointer(RunDir(res.run_dir).checkpoint_path).load()
    measured = doc["hook"]["measured"]
    rows = (res.run_dir / "inloop.csv").read_text().strip().splitlines()[1:]
    last = max(int(r.split(",")[0]) for r in rows)  # the end-of-search fine-tunes come after it
    in_search = {int(r.split(",")[1]) for r in rows if int(r.split(",")[0]) < last}
    assert in_search <= set(measured)
    # a rescorer restored from that state refits the same calibration
    hook = InLoopRescorer.__new__(InLoopRescorer)
    hook.estimator = CalibratedEstimator(_Fixed([0.0, 1.0, 3.0]))
    hook.restore(doc["hook"])
    assert hook.estimator.points == sum(np.isfinite(m["raw"]) for m in measured.values())
