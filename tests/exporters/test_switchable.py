"""`--format switchable`: one weight set, every Pareto point of a supernet run as a mode."""

from __future__ import annotations

import pytest
import yaml

from codesign.cli import main
from codesign.core.errors import ConfigError, RunError
from codesign.data import load_dataset
from codesign.exporters import export, needs_pick
from codesign.exporters.switchable import export_switchable, load_switchable
from codesign.quant.train import evaluate

from ..conftest import ROOT


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


def test_switchable_is_a_format_of_export_without_a_pick(supernet_run, tmp_path, capsys):
    assert not needs_pick("switchable") and needs_pick("onnx-qdq")
    res = export(supernet_run.run_dir, None, "switchable", tmp_path / "api")
    assert res.checks["modes"] == len(supernet_run.front)
    assert {p.name for p in res.paths} == {"modes.yaml", "weights.pt"}
    out = tmp_path / "cli"
    rc = main(["export", str(supernet_run.run_dir), "--format", "switchable", "-o", str(out)])
    assert rc == 0
    assert yaml.safe_load((out / "modes.yaml").read_text())["modes"]
    # a one-point format still asks for --pick, in one line
    assert main(["export", str(supernet_run.run_dir), "--format", "onnx-qdq"]) == 2
    assert "give --pick N" in capsys.readouterr().err
