"""The uniform baselines fine-tuned beside the front: which stay on it."""

from __future__ import annotations

from codesign.core.candidates import Candidate, Front, Rescore
from codesign.core.types import NetworkCost, Objective, Precision
from codesign.stages.rescore import drop_dominated_baselines


def _cand(cid: int, bits: tuple[int, int], latency_ms: float, acc: float | None) -> Candidate:
    a, w = bits
    cost = NetworkCost(
        cycles=latency_ms * 1e3,
        latency_s=latency_ms / 1e3,
        energy_j=latency_ms * 1e-6,
        weight_bytes=100.0,
        peak_act_bytes=50.0,
        memory_limit_bytes=1e6,
        layers={},
    )
    rescores = ()
    if acc is not None:
        rescores = (
            Rescore(method="finetune", recipe="qat", steps=1, split="test", status="ok",
                    accuracy=acc, ptq_accuracy=acc),
        )  # fmt: skip
    precisions = (Precision(a, (w, w)), Precision(a, (w, w, w)))
    return Candidate(cid, 0, "nsga2", precisions, None, cost, 1.0, rescores)


def _front(cands):
    return Front("w", "h", "mcu", (Objective.ACCURACY_LOSS, Objective.LATENCY), ("l0", "l1"),
                 tuple(cands), fp_accuracy=98.0)  # fmt: skip


def test_a_baseline_another_finetuned_point_dominates_is_dropped():
    mixed = _cand(1, (8, 4), 1.0, 97.5)  # cheaper and better than w8a8 measured
    w8 = _cand(2, (8, 8), 2.0, 97.0)
    w2 = _cand(0, (2, 2), 0.5, 60.0)  # the cheapest: nothing dominates it
    assert w8.uniform_bits == 8 and mixed.uniform_bits is None
    kept = drop_dominated_baselines(_front([w2, mixed, w8]), [w2, mixed, w8])
    assert [c.id for c in kept] == [0, 1]


def test_a_baseline_that_beats_the_found_points_stays_and_they_stay_too():
    mixed = _cand(1, (8, 4), 1.0, 90.0)
    w8 = _cand(2, (8, 8), 2.0, 97.9)
    unmeasured = _cand(3, (4, 8), 1.5, None)
    cands = [mixed, unmeasured, w8]
    kept = drop_dominated_baselines(_front(cands), cands)
    assert [c.id for c in kept] == [1, 3, 2]  # only baselines are ever dropped
