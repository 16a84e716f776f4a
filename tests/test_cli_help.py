"""What a newcomer meets on the command line: a fast workload list, whole run ids, help texts
that say the real defaults, and a cost-only run that names the flags it ignores."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rich.console import Console

from codesign.cli import _parser, main

from .conftest import ROOT


def _help_text(capsys, *cmd: str) -> str:  # noqa: ANN001
    with pytest.raises(SystemExit):
        _parser().parse_args([*cmd, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps: join the lines


def test_workloads_lists_without_importing_torch():
    code = (
        "import sys; from codesign.cli import main; main(['workloads', '--json']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["mnist1d_cnn"]["input_shape"] == [1, 1, 40]
    assert rows["resnet18"]["dataset"] is None and rows["resnet8"]["dataset"] == "cifar10"


def test_the_catalogue_is_the_registry():
    """The list read from the decorators equals the registry built by importing them."""
    from codesign.workload import list_workloads
    from codesign.workload.catalogue import bundled_workloads

    listed = [(e.name, e.input_shape, e.description, e.dataset) for e in bundled_workloads()]
    registry = {w.name: w for w in list_workloads()}  # other tests may have added their own
    built = [registry[n] for n, *_ in listed]
    assert listed == [(w.name, w.input_shape, w.description, w.dataset) for w in built]
    source = "".join(p.read_text() for p in (ROOT / "codesign" / "workloads").glob("*.py"))
    assert len(listed) == source.count("@register_workload(") > 0


def test_runs_prints_the_whole_run_id(tmp_path, capsys, monkeypatch):
    run_id = "20261203-142501-mnist1d_cnn-mpic-nsga2-s0-abcdef"
    (tmp_path / run_id).mkdir()
    (tmp_path / run_id / "run.json").write_text(
        json.dumps(
            {
                "status": "finished",
                "config": {"workload": "a_rather_long_workload_name", "generations": 40},
                "hardware": {"name": "a rather long hardware name, v2"},
                "summary": {"evaluated": 1830, "pareto": 66},
            }
        )
    )
    monkeypatch.setattr("codesign.cli._out_console", lambda: Console(width=80))
    assert main(["runs", "--results-dir", str(tmp_path)]) == 0
    assert run_id in capsys.readouterr().out


def test_explore_help_says_real_defaults(capsys):
    text = _help_text(capsys, "explore")
    assert "see help" not in text
    assert "(default: 64)" in text and "(default: supernet)" in text
    assert "--data" in text and "package.module:function" in text.split("--data")[-1][:400]
    assert "cost-only" in text


def test_export_help_names_the_real_output_files(capsys):
    text = _help_text(capsys, "export")
    assert "point-N.onnx" in text and "config-N.yaml" in text and "config-N.FMT" not in text


def test_cost_only_run_names_the_flags_it_ignores():
    from codesign.config import ExploreConfig
    from codesign.stages.prepare import ACCURACY_FIELDS, _warn_accuracy_flags
    from codesign.workload import get_workload

    assert "estimator" in ACCURACY_FIELDS and "finetune_top" in ACCURACY_FIELDS
    con = Console(record=True, width=200)
    cfg = ExploreConfig.build(workload="resnet18", estimator="proxy", finetune_top=3)
    _warn_accuracy_flags(cfg, get_workload("resnet18"), con)
    out = con.export_text()
    assert "cost-only run" in out and "--estimator proxy" in out and "--finetune-top 3" in out
    quiet = Console(record=True, width=200)  # defaults (and a resumed run's config) say nothing
    _warn_accuracy_flags(ExploreConfig.build(workload="resnet18"), get_workload("resnet18"), quiet)
    assert quiet.export_text() == ""
