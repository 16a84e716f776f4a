"""Class 5: runs never collide: ids are taken exclusively, one process holds a run folder at a
time, liveness does not depend on the host name, and an unreadable run is listed as such."""

from __future__ import annotations

import json

import pytest

from codesign.core.errors import RunError
from codesign.run import RunDir, list_runs


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path):
    a = RunDir.create(tmp_path, "20260101-000000-w-hw")
    b = RunDir.create(tmp_path, "20260101-000000-w-hw")
    assert a.path != b.path and b.path.name == "20260101-000000-w-hw-2"
    assert a.path.is_dir() and b.path.is_dir()


def test_a_run_folder_is_held_by_one_process(tmp_path):
    first, second = RunDir(tmp_path / "r"), RunDir(tmp_path / "r")
    first.lock()
    with pytest.raises(RunError, match=r"in use by pid \d+ on "):
        second.lock()
    first.close()
    second.lock()  # free again once the holder is gone
    second.close()


def test_a_second_resume_of_one_run_is_one_clear_error(run_copy):
    from codesign.explore import explore

    info = json.loads((run_copy / "run.json").read_text())
    info["status"] = "interrupted"
    (run_copy / "run.json").write_text(json.dumps(info))
    holder = RunDir(run_copy)
    holder.lock()  # the first resume, still going
    try:
        with pytest.raises(RunError, match="still running|in use"):
            explore(resume=run_copy)
    finally:
        holder.close()
    assert json.loads((run_copy / "run.json").read_text())["status"] == "interrupted"


def test_liveness_follows_the_lock_not_the_host_name(tmp_path):
    run = RunDir(tmp_path / "r")
    info = {"format": "codesign.run", "status": "running", "pid": 1, "host": "another-host"}
    run.write_json("run.json", info)
    holder = RunDir(run.path)
    holder.lock()
    assert run.read_info()["status"] == "running"
    holder.close()  # the process died (its kernel lock is gone)
    assert run.read_info()["status"] == "interrupted"
    assert [r["status"] for r in list_runs(tmp_path)] == ["interrupted"]


def test_an_unreadable_run_is_listed_as_such(tmp_path, capsys):
    from codesign.cli import main

    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "run.json").write_text(json.dumps({"status": "complete"}))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.json").write_text('{"status": "compl')
    rows = {r["path"].rsplit("/", 1)[1]: r for r in list_runs(tmp_path)}
    assert rows["bad"]["status"] == "unreadable" and "run.json" in rows["bad"]["error"]
    assert rows["good"]["status"] == "complete"
    assert main(["runs", "--results-dir", str(tmp_path)]) == 0
    assert "unreadable" in capsys.readouterr().out
