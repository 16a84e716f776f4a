"""The main job end to end: files of a run, real fine-tuned accuracies, nothing lost on a crash."""

from __future__ import annotations

import csv
import json

import pytest
import torch

import codesign.explore as explore_mod
from codesign.core.errors import CodesignError
from codesign.report.html import build_figure
from codesign.run import RunDir

from .conftest import SMALL_RUN


def test_run_directory_contents(small_run):
    d = small_run.run_dir
    for name in (
        "run.json",
        "hw.yaml",
        "layers.json",
        "candidates.csv",
        "pareto.csv",
        "pareto.json",
        "pareto.html",
        "finetune.csv",
        "sensitivity.json",
    ):
        assert (d / name).exists(), name
    info = json.loads((d / "run.json").read_text())
    assert info["status"] == "complete" and info["format"] == "codesign.run"
    assert info["config"]["seed"] == 3 and info["config"]["workload"] == "digits_cnn"
    assert info["fingerprint"]["weights"] and info["fingerprint"]["hardware"]
    assert info["threads"] == info["config"]["threads"] or info["config"]["threads"] is None
    assert info["threads"] >= 1
    assert info["versions"]["torch"] and info["versions"]["pymoo"]
    with (d / "candidates.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == small_run.evaluated > 16
    # generation 0 is the initial population; the last of 4 generations is labelled 3
    assert {r["generation"] for r in rows} == {"0", "1", "2", "3"}


def test_front_is_sorted_and_finetuned_accuracies_are_real(small_run):
    front = small_run.front.candidates
    lat = [c.latency_ms for c in front]
    assert lat == sorted(lat)
    done = [c for c in front if c.finetuned is not None]
    # two points spread along the front (one when the estimate leaves a single point)
    assert len(done) == min(2, len(front)) >= 1
    for c in done:
        # held-out accuracy of a trained 10-class model: far above chance, at most 100
        assert 50.0 < c.finetuned_accuracy <= 100.0
        assert c.finetuned.ptq_accuracy is not None and c.finetuned.split == "test"
    assert small_run.fp_accuracy > 90.0
    # every point of the front fits in L2
    assert all(c.peak_kb <= 524.288 for c in front)
    # the front read back from the run directory is the one returned
    from codesign.run import RunDir

    assert RunDir(small_run.run_dir).load_front() == small_run.front


def test_report_has_hover_with_per_layer_bits(small_run):
    d = small_run.run_dir
    html = (d / "pareto.html").read_text()
    assert "plotly" in html.lower() and "Pareto #0" in html
    assert "Mappings of the Pareto points" not in html  # an MCU has no mappings
    rd = RunDir(d)
    fig = build_figure(rd.load_front(), rd.evaluated_points())
    front = small_run.front
    front_trace = next(t for t in fig.data if t.name.startswith("Pareto front"))
    assert len(front_trace.x) == len(front)
    for c, hover in zip(front.candidates, front_trace.hovertext):
        for name, a, w in zip(front.layers, c.act_bits, c.weight_bits):
            assert f"{name}: w{w}a{a} " in hover
    ft = next(t for t in fig.data if t.name.startswith("fine-tuned"))
    assert sorted(ft.y) == sorted(
        c.finetuned_accuracy for c in front.candidates if c.finetuned_accuracy is not None
    )


def test_interrupted_run_keeps_what_was_computed(tmp_path, monkeypatch, run_explore):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(explore_mod.DaskEvaluator, "run", boom)
    out = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        run_explore(
            estimator="proxy",
            seed=1,
            pop_size=16,
            generations=2,
            finetune_top=2,
            out=out,
        )
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted"
    with (out / "candidates.csv").open() as f:
        assert len(list(csv.DictReader(f))) >= 16
    assert (out / "sensitivity.json").exists()


def test_workload_without_data_refuses_accuracy(results_dir, tmp_path, run_explore):
    with pytest.raises(CodesignError, match="accuracy_loss needs data"):
        run_explore(
            estimator="proxy",
            workload="resnet8",
            objectives="accuracy_loss,latency",
            out=tmp_path / "r",
        )
    res = run_explore(
        estimator="proxy",
        workload="resnet8",
        pop_size=16,
        generations=2,
        out=tmp_path / "r2",
    )
    # without an accuracy axis the lowest bits win both latency and memory
    assert res.fp_accuracy is None and len(res.front) == 1
    c = res.front.candidates[0]
    assert set(c.weight_bits) == {2} == set(c.act_bits)
    assert all(c.finetuned_accuracy is None for c in res.front.candidates)


def test_identical_rerun_reuses_the_cache(small_run, results_dir, run_explore):
    first = json.loads((small_run.run_dir / "run.json").read_text())["finetune"]
    n = min(2, len(small_run.front))
    assert first["computed"] + first["from_cache"] == first["requested"] == n
    again = run_explore(**SMALL_RUN, out=results_dir / "small-again")
    info = json.loads((again.run_dir / "run.json").read_text())["finetune"]
    assert info["computed"] == 0 and info["from_cache"] == n
    assert [c.finetuned_accuracy for c in again.front.candidates] == [
        c.finetuned_accuracy for c in small_run.front.candidates
    ]
    assert all(c.finetuned.cached for c in again.front.candidates if c.finetuned is not None)


def test_resnet8_on_local_cifar_files_with_given_weights(results_dir, tmp_path, run_explore):
    from codesign.workload import get_workload

    from .data.test_loaders import write_cifar

    folder = write_cifar(tmp_path / "data")
    weights = tmp_path / "resnet8.pt"
    torch.manual_seed(0)
    torch.save(get_workload("resnet8").build().state_dict(), weights)
    res = run_explore(
        estimator="proxy",
        workload="resnet8",
        data=folder,
        weights=weights,
        pop_size=8,
        generations=2,
        finetune_top=1,
        finetune_steps=2,
        out=tmp_path / "r",
    )
    assert res.objectives[0].value == "accuracy_loss"
    assert res.fp_accuracy is not None and 0 <= res.fp_accuracy <= 100
    done = [c for c in res.front.candidates if c.finetuned is not None]
    assert len(done) == 1 and 0 <= done[0].finetuned_accuracy <= 100


def test_data_and_weights_errors(results_dir, tmp_path, run_explore):
    with pytest.raises(CodesignError, match="--data .*no such file"):
        run_explore(
            estimator="proxy",
            workload="resnet8",
            data=tmp_path / "nope",
            out=tmp_path / "a",
        )
    with pytest.raises(CodesignError, match="does not read a dataset from a folder"):
        run_explore(
            estimator="proxy",
            workload="digits_cnn",
            data=tmp_path,
            out=tmp_path / "b",
        )
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    with pytest.raises(CodesignError, match="--weights .*does not fit digits_cnn"):
        run_explore(
            estimator="proxy",
            weights=wrong,
            out=tmp_path / "c",
        )


def test_finetune_estimator_scores_every_candidate_by_a_finetune(
    results_dir, tmp_path, run_explore
):
    res = run_explore(
        estimator="finetune",
        seed=2,
        pop_size=8,
        generations=1,
        finetune_top=0,
        finetune_steps=5,
        out=tmp_path / "ft",
    )
    info = json.loads((res.run_dir / "run.json").read_text())
    assert info["estimator"] == "finetune"
    with (res.run_dir / "candidates.csv").open() as f:
        rows = list(csv.DictReader(f))
    losses = {float(r["est_accuracy_loss_pp"]) for r in rows}
    assert len(rows) == 8 and len(losses) > 1  # real, differing fine-tune results


def test_mnist1d_workload_searches_with_real_accuracy(run_explore, results_dir):
    # the 1-D workload whose data the mnist1d extra generates: an accuracy axis, fine-tunes
    res = run_explore(
        **{**SMALL_RUN, "workload": "mnist1d_cnn", "finetune_top": 1}, out=results_dir / "m1d"
    )
    assert res.fp_accuracy > 90.0
    info = json.loads((res.run_dir / "run.json").read_text())
    assert "accuracy_loss" in info["objectives"]
    done = [c for c in res.front.candidates if c.finetuned is not None]
    # the cheapest point is w2a2 throughout; after 60 steps it is far from full precision
    # on this harder task, yet well above chance (10 classes)
    assert len(done) == 1 and 20.0 < done[0].finetuned_accuracy <= 100.0
