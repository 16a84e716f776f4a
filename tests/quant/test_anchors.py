"""The estimator calibrated on fine-tuned anchors: a monotone map that never reorders, never
leaves [0, 100] %, and a run that records its anchors beside their fine-tunes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from codesign.core.candidates import CandidateBatch
from codesign.quant.estimators import AnchoredEstimator, MonotoneMap


def test_the_map_follows_the_anchors_and_never_reverses():
    raw = np.array([1.0, 3.0, 5.0, 20.0, 40.0])
    measured = np.array([0.5, 0.2, 2.0, 10.0, 30.0])  # one anchor out of order (noise)
    f = MonotoneMap(raw, measured)
    grid = np.linspace(-10.0, 80.0, 2001)
    out = f(grid)
    assert (np.diff(out) > 0).all()  # strictly increasing: no reversal, no tie
    # at the anchors, the isotonic fit (the out-of-order pair pooled to its mean)
    np.testing.assert_allclose(f(raw), [0.35, 0.35, 2.0, 10.0, 30.0], atol=0.05)
    # beyond them a shift with slope 1
    assert f(np.array([50.0]))[0] == pytest.approx(40.0, abs=0.1)
    assert f(np.array([0.0]))[0] == pytest.approx(-0.65, abs=0.05)
    assert np.isnan(f(np.array([np.nan])))[0]
    with pytest.raises(ValueError, match="finite anchor"):
        MonotoneMap([np.nan], [1.0])


class _Fixed:
    """An estimator whose losses are given."""

    fp_accuracy = 90.0

    def __init__(self, losses: np.ndarray) -> None:
        self.losses = losses

    def loss(self, batch: CandidateBatch) -> np.ndarray:
        return self.losses


def test_anchored_estimates_stay_probabilities():
    batch = CandidateBatch.layerwise(["a"], [4], np.array([[8]] * 3), np.array([[8]] * 3))
    f = MonotoneMap([0.0, 10.0], [5.0, 50.0])
    est = AnchoredEstimator(_Fixed(np.array([-50.0, 5.0, 200.0])), f)
    loss = est.loss(batch)
    acc = est.fp_accuracy - loss
    assert ((acc >= 0.0) & (acc <= 100.0)).all()
    assert acc[0] == 100.0 and acc[2] == 0.0


def test_a_run_calibrates_on_its_anchors_and_records_them(small_run):
    run = small_run.run_dir
    info = json.loads((run / "run.json").read_text())
    assert info["anchors"]["count"] == 3 and info["anchors"]["split"] == "val"
    rows = list(csv.DictReader((run / "anchors.csv").open()))
    assert len(rows) == 3
    raw = [float(r["raw_est_accuracy"]) for r in rows]
    cal = [float(r["calibrated_est_accuracy"]) for r in rows]
    val = [float(r["val_accuracy"]) for r in rows]
    # anchors spread over the estimator's ranking, from its best configuration down
    assert raw == sorted(raw, reverse=True)
    # the isotonic map is the monotone fit closest to the fine-tunes (the identity is one):
    # calibrated estimates are no further from them than the raw ones, in squared error
    sq_raw = np.square(np.subtract(raw, val)).mean()
    sq_cal = np.square(np.subtract(cal, val)).mean()
    assert sq_cal <= sq_raw + 1e-6


def test_anchors_hold_the_lowest_uniform_configuration_and_spread_the_rest():
    from codesign.stages.estimators import anchor_picks

    ranked = np.array([7, 3, 9, 1, 4, 8, 2, 6, 5, 0])  # configuration indices, best first
    # the lowest uniform configuration (index 4, in the middle of the ranking) is always one
    picks = anchor_picks(ranked, 4, 4)
    assert len(picks) == 4 and 4 in picks and {7, 0} <= set(picks.tolist())
    assert list(picks) == sorted(picks, key=list(ranked).index)  # in ranking order
    # where the spread already holds it, the spread gives all k
    assert list(anchor_picks(ranked, 0, 3)) == [7, 4, 0]
    assert list(anchor_picks(ranked, None, 3)) == [7, 4, 0]
    # never more than the ranking holds, nothing for k = 0
    assert len(anchor_picks(ranked[:2], 3, 5)) == 2 and len(anchor_picks(ranked, 4, 0)) == 0
    assert list(anchor_picks(ranked, 4, 1)) == [4]
