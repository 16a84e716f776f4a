"""Class 1: no code runs from a received run folder or export. Every payload would create a
marker file; each test asserts it was refused and the marker never appeared."""

from __future__ import annotations

import json
import sys

import psutil
import pytest
import yaml

from codesign.core.errors import CodesignError, RunError
from codesign.search.checkpoint import Checkpointer

from .payloads import module_payload, pickle_payload, torch_payload


def _interrupted(run):
    """Mark a copied run as interrupted, so it may be resumed."""
    info = json.loads((run / "run.json").read_text())
    info["status"] = "interrupted"
    (run / "run.json").write_text(json.dumps(info))
    return info


@pytest.mark.parametrize("make", [pickle_payload, torch_payload], ids=["pickle", "torch.save"])
def test_a_checkpoint_that_names_code_is_refused_unloaded(tmp_path, make):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pkl"
    path.write_bytes(make(marker))
    with pytest.raises(RunError, match="checkpoint"):
        Checkpointer(path).load()
    assert not marker.exists()


def test_resume_of_a_run_with_a_hostile_checkpoint_runs_none_of_it(run_copy, tmp_path):
    from codesign.explore import explore

    marker = tmp_path / "pwned"
    _interrupted(run_copy)
    (run_copy / "checkpoint.pkl").write_bytes(torch_payload(marker, {"format": "x"}))
    with pytest.raises(RunError, match="posix.system|os.system|names '"):
        explore(resume=run_copy)
    assert not marker.exists()


def test_a_checkpoint_round_trips_as_data(tmp_path):
    import numpy as np

    ck = Checkpointer(tmp_path / "checkpoint.pkl")
    ck.save({"generation": 3, "x": np.arange(4), "seen": {1, 2}})
    doc = ck.load()
    assert doc["generation"] == 3 and doc["x"].tolist() == [0, 1, 2, 3] and doc["seen"] == {1, 2}


def test_resume_without_a_fingerprint_is_refused(run_copy):
    from codesign.explore import explore

    info = _interrupted(run_copy)
    info.pop("fingerprint")
    (run_copy / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match="no fingerprint"):
        explore(resume=run_copy)


def test_resume_never_imports_a_module_only_run_json_names(run_copy, tmp_path, monkeypatch):
    from codesign.explore import explore

    marker = tmp_path / "pwned"
    monkeypatch.syspath_prepend(str(tmp_path))
    info = _interrupted(run_copy)
    info["config"]["workload"] = module_payload(tmp_path, "evil_resume", marker)
    (run_copy / "run.json").write_text(json.dumps(info))
    with pytest.raises(CodesignError, match="pass --workload 'evil_resume:build'"):
        explore(resume=run_copy)
    assert not marker.exists() and "evil_resume" not in sys.modules


def test_resume_never_sends_work_or_writes_where_run_json_says(run_copy, tmp_path):
    from codesign.explore import _resume_config

    info = _interrupted(run_copy)
    info["config"].update(scheduler="tcp://203.0.113.7:8786", results_dir=str(tmp_path / "x"))
    (run_copy / "run.json").write_text(json.dumps(info))
    cfg, _ = _resume_config(run_copy, {})
    assert cfg.scheduler is None and cfg.workers == 1
    assert cfg.results_dir == str(run_copy.resolve().parent)
    cfg, _ = _resume_config(run_copy, {"results_dir": str(tmp_path / "mine")})
    assert cfg.results_dir == str(tmp_path / "mine")


def test_export_never_imports_a_module_only_run_json_names(run_copy, tmp_path, monkeypatch):
    from codesign.exporters import export

    marker = tmp_path / "pwned"
    monkeypatch.syspath_prepend(str(tmp_path))
    info = json.loads((run_copy / "run.json").read_text())
    info["config"]["workload"] = module_payload(tmp_path, "evil_export", marker)
    (run_copy / "run.json").write_text(json.dumps(info))
    for fmt in ("config", "onnx-qdq", "brevitas", "switchable"):
        with pytest.raises(CodesignError, match="imports no module"):
            export(run_copy, 0 if fmt != "switchable" else None, fmt)
    assert not marker.exists() and "evil_export" not in sys.modules


def test_an_artefact_is_loaded_as_data_and_its_key_names_no_path(tmp_path):
    from codesign.quant.evaluate import artefact_path, load_artefact

    marker = tmp_path / "pwned"
    key = "ab" * 32
    (tmp_path / f"{key}.pt").write_bytes(torch_payload(marker, {"format": "codesign.finetuned"}))
    with pytest.raises(RunError, match="unreadable fine-tuned model"):
        load_artefact(tmp_path, key)
    assert not marker.exists()
    assert (tmp_path / f"{key}.pt.corrupt").exists()  # set aside, refitted by the next run
    for bad in ("/etc/passwd", "../../x", "AB" * 32):
        with pytest.raises(RunError, match="not a codesign cache key"):
            artefact_path(tmp_path, bad)


def test_a_brevitas_export_is_loaded_as_data(tmp_path):
    from codesign.exporters.brevitas import load_brevitas

    marker = tmp_path / "pwned"
    path = tmp_path / "point.brevitas.pt"
    path.write_bytes(torch_payload(marker, {"format": "codesign.brevitas"}))
    with pytest.raises(CodesignError, match="unreadable Brevitas export"):
        load_brevitas(path)
    assert not marker.exists()


def test_a_switchable_export_imports_its_module_only_when_named(tmp_path, monkeypatch):
    from codesign.exporters.switchable import FORMAT, VERSION, load_switchable

    marker = tmp_path / "pwned"
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = module_payload(tmp_path, "evil_modes", marker)
    doc = {"format": FORMAT, "version": VERSION, "workload": spec, "input_shape": [1, 4]}
    doc.update(act_set=[8], weight_set=[8], modes=[])
    (tmp_path / "modes.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(CodesignError, match="pass workload='evil_modes:build'"):
        load_switchable(tmp_path)
    assert not marker.exists()
    with pytest.raises(Exception):  # noqa: B017 - named: imported (no weights to load after)
        load_switchable(tmp_path, workload=spec)
    assert marker.exists()  # the opt-in is what imports it


def test_the_report_escapes_a_script_ending_strategy(run_copy, tmp_path):
    from codesign.report.html import write_report

    evil = "</script><script>document.title='pwned'</script>"
    doc = json.loads((run_copy / "pareto.json").read_text())
    doc["strategy"] = evil
    doc["candidates"][0]["strategy"] = evil
    doc["layers"] = [*doc["layers"]]
    (run_copy / "pareto.json").write_text(json.dumps(doc))
    page = write_report(run_copy).read_text()
    assert "<script>document.title" not in page
    assert "pwned" in page  # the text is there, escaped


def _listening() -> set[tuple[str, int]]:
    procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
    out = set()
    for p in procs:
        for c in p.net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN:
                out.add((c.laddr.ip, c.laddr.port))
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_dask_serves_nothing_beyond_loopback_by_default(workers):
    from codesign.distributed import DaskEvaluator

    before = _listening()
    with DaskEvaluator(None, workers=workers) as ev:
        ev._start()
        opened = _listening() - before
    assert opened, "the cluster opened no port at all?"
    assert {ip for ip, _ in opened} == {"127.0.0.1"}, opened
    assert 8787 not in {port for _, port in opened}
