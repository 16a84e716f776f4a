"""`--seed` fixes a user model's initial weights: the model is built inside the seeded scope,
so two processes with the same seed train the same network and find the same front."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from codesign.workload import get_workload

MODEL = """
from torch import nn


def build():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 64, 10),
    )
"""


def test_a_user_workload_is_built_anew_each_time(tmp_path, monkeypatch):
    (tmp_path / "seedmodel_a.py").write_text(MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    wl = get_workload("seedmodel_a:build", (1, 1, 8, 8))
    a, b = wl.build(), wl.build()
    assert a is not b  # not one object shared (and trained) by every caller
    torch.manual_seed(3)
    w1 = wl.build().state_dict()
    torch.manual_seed(3)
    w2 = wl.build().state_dict()
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def _run_cli(folder: Path, results: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [sys.executable, "-m", "codesign.cli", "explore", "--hw", "mpic"]
    cmd += ["--workload", "seedmodel_b:build", "--input-shape", "1,1,8,8", "--data", "digits"]
    cmd += ["--estimator", "proxy", "--pop-size", "8", "--generations", "2"]
    cmd += ["--finetune-top", "0", "--seed", "0", "--threads", "1"]
    cmd += ["--results-dir", str(results), "--out", str(results / "run")]
    out = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return results / "run"


def test_two_processes_with_one_seed_start_from_the_same_user_model(tmp_path):
    (tmp_path / "seedmodel_b.py").write_text(MODEL)
    runs = [_run_cli(tmp_path, tmp_path / f"results{i}") for i in (1, 2)]
    infos = [json.loads((r / "run.json").read_text()) for r in runs]
    # the base weights the runs trained from the seeded initial model are identical ...
    assert infos[0]["fingerprint"]["weights"] == infos[1]["fingerprint"]["weights"]
    assert infos[0]["fp_model"]["test_accuracy"] == infos[1]["fp_model"]["test_accuracy"]
    # ... and so is the front
    fronts = [(r / "pareto.csv").read_text() for r in runs]
    assert fronts[0] == fronts[1] and fronts[0].count("\n") >= 2
