"""Fine-tunes through Dask: 2-worker LocalCluster, a worker that dies, a diverging fine-tune."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import torch

from codesign.cache import EvalCache, eval_key, weights_hash
from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.evaluate import FinetuneTask, run_finetune_task, state_bytes
from codesign.quant.train import FinetuneRecipe
from codesign.workload import extract, get_workload

CRASH_MARK = "crash-me"


def crash_or_run(task: FinetuneTask) -> dict:
    """Task function for the tests: the worker process dies on a marked task."""
    if task.key.startswith(CRASH_MARK):
        os._exit(13)
    return run_finetune_task(task)


@pytest.fixture(scope="module")
def tasks():
    w = get_workload("digits_cnn")
    torch.manual_seed(0)
    model = w.build()  # untrained weights are enough to test the plumbing
    g = extract(model, w.example_input())
    base, blob = weights_hash(model), state_bytes(model)
    recipe = FinetuneRecipe(steps=15)
    out = []
    for bits in (8, 4, 2):
        cfg = QuantConfig(
            "digits_cnn",
            tuple(
                LayerQuant(s.name, s.source, s.kind.value, bits, (bits,) * s.K)
                for s in g.quantizable
            ),
        )
        doc = cfg.to_dict()
        key = eval_key("digits_cnn", base, doc["layers"], {"steps": 15}, 0)
        out.append(
            FinetuneTask(
                key, base, "digits_cnn", w.input_shape, "digits", None, blob, doc, recipe, 0
            )
        )
    return out


def test_diverging_finetune_is_marked_failed(tasks):
    bad = replace(tasks[0], recipe=FinetuneRecipe(steps=5, lr=1e30))
    res = run_finetune_task(bad)
    assert res["status"] == "failed" and "diverged" in res["reason"]
    assert res["accuracy"] is None


@pytest.mark.filterwarnings("ignore")
def test_local_cluster_two_workers_with_a_dying_worker(tasks, tmp_path):
    dying = replace(tasks[2], key=CRASH_MARK + tasks[2].key[len(CRASH_MARK) :])
    nan = replace(tasks[1], key="nan" + tasks[1].key[3:], recipe=FinetuneRecipe(steps=5, lr=1e30))
    cache = EvalCache(tmp_path / "evals.sqlite")
    seen = []
    with DaskEvaluator(cache, workers=2, task_fn=crash_or_run) as ev:
        results = ev.run([tasks[0], dying, nan], lambda t, r, c: seen.append((t.key, c)))
        assert len(ev.client.scheduler_info()["workers"]) >= 1
    assert results[tasks[0].key]["status"] == "ok"
    assert 0 <= results[tasks[0].key]["accuracy"] <= 100
    assert results[dying.key]["status"] == "failed"
    assert "worker failed" in results[dying.key]["reason"]
    assert results[nan.key]["status"] == "failed" and "diverged" in results[nan.key]["reason"]
    assert ev.computed == 3 and ev.failed == 2 and len(seen) == 3
    # ok and diverged results are cached; the worker death is not (a re-run tries again)
    assert cache.get(tasks[0].key)["status"] == "ok"
    assert cache.get(nan.key)["status"] == "failed"
    assert cache.get(dying.key) is None
    with DaskEvaluator(cache, workers=2) as ev2:
        again = ev2.run([tasks[0], nan])
        assert ev2.client is None  # everything came from the cache: no cluster started
    assert ev2.cache_hits == 2 and ev2.computed == 0
    assert again[tasks[0].key]["accuracy"] == results[tasks[0].key]["accuracy"]


def test_in_process_default_matches_direct_call(tasks):
    direct = run_finetune_task(tasks[0])
    with DaskEvaluator(None) as ev:
        via = ev.run([tasks[0]])[tasks[0].key]
    assert ev.describe().startswith("Dask, in-process")
    assert via["accuracy"] == direct["accuracy"]


@pytest.mark.filterwarnings("ignore")
def test_existing_cluster_by_scheduler_address(tasks):
    import logging

    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        with DaskEvaluator(None, scheduler=cluster.scheduler_address) as ev:
            res = ev.run([tasks[0]])
            assert ev.describe() == f"Dask cluster at {cluster.scheduler_address}"
    assert res[tasks[0].key]["status"] == "ok"


def test_unreachable_scheduler_is_one_error(tasks):
    from codesign.core.errors import CodesignError

    with DaskEvaluator(None, scheduler="tcp://127.0.0.1:9") as ev:
        with pytest.raises(CodesignError, match="cannot connect"):
            ev.run([tasks[0]])
