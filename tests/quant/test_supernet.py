"""Switchable-precision supernet: switching, transitional BNs, training, scoring, export."""

from __future__ import annotations

import pytest
import torch

from codesign.core.errors import ConfigError, RunError
from codesign.data import load_dataset
from codesign.exporters.switchable import export_switchable, load_switchable
from codesign.quant.supernet import Supernet, SupernetSchedule, TransitionalBN, train_supernet
from codesign.quant.train import evaluate


def test_transitional_bn_per_pair_and_switching(trained):
    m, g, d = trained
    sn = Supernet(m, g, (2, 4, 8), (2, 4, 8))
    tbns = [mod for mod in sn.modules() if isinstance(mod, TransitionalBN)]
    assert len(tbns) == 4  # every conv but the final linear is followed by a BN
    assert all(len(t.bns) == 9 for t in tbns)
    n = len(g.quantizable)
    sn.set_config([4] * n, [2] * n)
    assert all(t.current == "a4_w2" for t in tbns)
    x = d.test.tensors[0][:32]
    sn.eval()
    out_42 = sn(x)
    sn.set_uniform(8, 8)
    assert not torch.allclose(out_42, sn(x))
    with pytest.raises(ConfigError, match=r"not a3/w\[8\]"):
        sn.set_config([3] * n, [8] * n)
    with pytest.raises(ConfigError, match="5 layers"):
        sn.set_config([8], [8])


def test_training_makes_low_bits_usable(trained):
    m, g, d = trained
    sn = Supernet(m, g, (2, 4, 8), (2, 4, 8))
    n = len(g.quantizable)
    before = sn.accuracy([2] * n, [2] * n, d.val)
    train_supernet(sn, d.train, SupernetSchedule(steps=250), seed=0)
    after_low = sn.accuracy([2] * n, [2] * n, d.val)
    after_high = sn.accuracy([8] * n, [8] * n, d.val)
    assert after_low > before + 10.0
    assert after_high > evaluate(m, d.val) - 3.0
    assert after_high >= after_low - 1.0


# the same workload, hardware, seed and supernet steps: a second run finds the checkpoint
SN_RUN = dict(estimator="supernet", supernet_steps=200, seed=5, pop_size=16, generations=3)


@pytest.fixture(scope="module")
def supernet_run(results_dir, run_explore):
    return run_explore(**SN_RUN, finetune_top=1, finetune_steps=30, out=results_dir / "sn-run")


def test_explore_with_supernet_estimator(supernet_run, results_dir, run_explore):
    import json

    info = json.loads((supernet_run.run_dir / "run.json").read_text())
    assert info["estimator"] == "supernet" and info["status"] == "complete"
    assert not info["supernet"]["cached"]
    front = supernet_run.front
    assert all(front.est_accuracy(c) is not None for c in front.candidates)
    # the supernet trained the steps asked for, not the default 2,000
    assert info["supernet"]["steps"] == SN_RUN["supernet_steps"] != 2000
    again = run_explore(**SN_RUN, finetune_top=0, out=results_dir / "sn-run2")
    info2 = json.loads((again.run_dir / "run.json").read_text())
    assert info2["supernet"]["cached"] and info2["supernet"]["path"] == info["supernet"]["path"]


def test_switchable_export_loads_and_switches_modes(supernet_run, tmp_path):
    out = export_switchable(supernet_run.run_dir, tmp_path / "sw")
    model = load_switchable(out)
    assert len(model.modes) == len(supernet_run.front) >= 2
    test = load_dataset("digits").test
    accs = []
    for i, mode in enumerate(model.modes):
        row = model.set_mode(i)
        acc = evaluate(model, test)
        assert acc == pytest.approx(mode["accuracy"])  # measured again after loading
        assert row["latency_ms"] == supernet_run.front.candidates[i].latency_ms
        assert {m["kind"] for m in row["mapping"].values()} == {"mcu-kernel"}
        accs.append(acc)
    assert all(a > 80.0 for a in accs)
    # the cheapest mode within a latency budget
    budget = model.modes[len(model.modes) // 2]["latency_ms"]
    pick = model.best_within("latency_ms", budget)
    assert model.modes[pick]["latency_ms"] <= budget
    with pytest.raises(ConfigError, match="modes 0.."):
        model.set_mode(len(model.modes))


def test_switchable_export_needs_a_supernet(small_run):
    with pytest.raises(RunError, match="--estimator supernet"):
        export_switchable(small_run.run_dir)


def test_switchable_export_names_spatial_mappings(results_dir, tmp_path, run_explore):
    from codesign.exporters.switchable import export_switchable

    from ..conftest import ROOT

    res = run_explore(
        hw=ROOT / "hw_models" / "eyeriss.yaml",
        estimator="supernet",
        supernet_steps=20,
        seed=5,
        pop_size=8,
        generations=1,
        finetune_top=0,
        out=tmp_path / "ey-sn",
    )
    out = export_switchable(res.run_dir, tmp_path / "sw")
    import yaml

    doc = yaml.safe_load((out / "modes.yaml").read_text())
    assert doc["hardware"]["family"] == "spatial"
    for mode in doc["modes"]:
        kinds = {m["kind"] for m in mode["mapping"].values()}
        assert kinds == {"spatial"}  # was "mcu-kernel" for every run
        assert all("dataflow" in m for m in mode["mapping"].values())
