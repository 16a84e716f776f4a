"""Front-level views of candidates (`codesign/core/candidates.py`)."""

from __future__ import annotations

import pytest

from codesign.core.candidates import Candidate, Front
from codesign.core.types import NetworkCost, Objective, Precision


def _front(fp: float, losses: list[float]) -> Front:
    cands = tuple(
        Candidate(
            id=i,
            generation=0,
            strategy="test",
            precisions=(Precision.uniform(8, 8, 4),),
            mapping=None,
            cost=NetworkCost({}, 1.0, 1e-6, 1e-9, 1.0, 1.0, 10.0),
            est_accuracy_loss=loss,
        )
        for i, loss in enumerate(losses)
    )
    return Front(
        workload="w",
        hardware="h",
        family="mcu",
        objectives=(Objective.ACCURACY_LOSS, Objective.LATENCY),
        layers=("conv",),
        candidates=cands,
        fp_accuracy=fp,
        memory_limit_bytes=1,
        evaluated=len(cands),
        strategy="test",
    )


@pytest.mark.parametrize(
    ("fp", "loss", "expected"),
    [(99.5, -1.0, 100.0), (97.0, 2.5, 94.5), (40.0, 55.0, 0.0)],
)
def test_estimated_accuracy_is_a_percentage(fp, loss, expected):
    # a loss measured on the validation split, subtracted from the test accuracy, can
    # overshoot: 100.50 % was shown once; an estimate is never outside [0, 100]
    front = _front(fp, [loss])
    assert front.est_accuracy(front.candidates[0]) == pytest.approx(expected)
