"""Runs the report tests share: 2, 3 and 4 objectives on digits (one fine-tuned point each) and
a cost-only run (ResNet-18 on Eyeriss: no data, so two cost objectives and no accuracy)."""

from __future__ import annotations

import pytest

from ..conftest import ROOT

OBJECTIVES = {
    2: "accuracy_loss,latency",
    3: "accuracy_loss,latency,memory",
    4: "accuracy_loss,latency,energy,memory",
}
TINY = dict(estimator="proxy", seed=1, pop_size=16, generations=2, finetune_steps=20)


@pytest.fixture(scope="session")
def objective_runs(results_dir, run_explore):
    """{number of objectives: a finished digits run with one fine-tuned point}, made on first
    use."""
    made: dict[int, object] = {}

    def get(n: int):
        if n not in made:
            made[n] = run_explore(
                **TINY, objectives=OBJECTIVES[n], finetune_top=1, out=results_dir / f"obj{n}"
            )
        return made[n]

    return get


@pytest.fixture(scope="session")
def cost_only_run(results_dir, run_explore):
    """ResNet-18 on Eyeriss: a workload without data, so the run searches energy and latency
    only (the case that broke the scatter matrix)."""
    return run_explore(
        hw=ROOT / "hw_models" / "eyeriss.yaml",
        workload="resnet18",
        seed=0,
        pop_size=16,
        generations=2,
        mapper_samples=100,
        mapper_refine_rounds=1,
        out=results_dir / "cost-only",
    )
