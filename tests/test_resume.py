"""A run killed with SIGKILL in the search, and again in the fine-tunes, resumes to the same
front as an uninterrupted run; a dead run shows as interrupted; a mismatched resume is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codesign.run import RunDir, list_runs

from .conftest import MPIC

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "explore",
    "--baselines",  # the fine-tune counts below are the front's own
    "false",
    "--hw",
    str(MPIC),
    "--workload",
    "digits_cnn",
    "--estimator",
    "proxy",
    "--seed",
    "6",
    "--pop-size",
    "16",
    "--generations",
    "5",
    "--finetune-top",
    "3",
    "--finetune-steps",
    "20",
    "--threads",
    "1",
]


def _cli(*args: str, kill: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable]
    cmd += [str(ROOT / "tests" / "killer.py"), kill, "--"] if kill else ["-m", "codesign.cli"]
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, check=False, cwd=ROOT, timeout=600
    )


def _front(run: Path) -> list[tuple]:
    f = RunDir(run).load_front()
    return [
        (
            c.precisions,
            c.mapping,
            c.latency_ms,
            c.peak_kb,
            c.est_accuracy_loss,
            c.finetuned_accuracy,
        )
        for c in f.candidates
    ]


def test_killed_in_search_and_in_finetunes_resumes_to_the_same_front(tmp_path):
    killed_res, whole_res = tmp_path / "res-k", tmp_path / "res-w"
    run = killed_res / "run"
    p = _cli(*ARGS, "--results-dir", str(killed_res), "--out", str(run), kill="search:3")
    assert p.returncode == -9, p.stderr[-2000:]
    ck = RunDir(run)
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    assert ck.read_info()["status"] == "interrupted"  # its process is gone
    rows = list_runs(killed_res)
    assert [r["status"] for r in rows] == ["interrupted"] and rows[0]["generation"] == 3
    assert not (run / "pareto.json").exists()

    # resume; killed again right after the first fine-tune finished
    p = _cli("explore", "--resume", str(run), kill="finetune:1")
    assert p.returncode == -9, p.stderr[-2000:]
    assert "resuming the search after generation 3 of 5" in p.stderr
    assert ck.read_info()["status"] == "interrupted"

    p = _cli("explore", "--resume", str(run))
    assert p.returncode == 0, p.stderr[-2000:]
    info = ck.read_info()
    assert info["status"] == "complete" and info["resumed"] == 2
    # the fine-tune that had finished came from the cache; only the other two ran
    assert info["finetune"]["from_cache"] == 1 and info["finetune"]["computed"] == 2

    # the same run, never interrupted (same trained base model, its own fine-tune cache)
    shutil.copytree(killed_res / "cache", whole_res / "cache")
    p = _cli(*ARGS, "--results-dir", str(whole_res), "--out", str(whole_res / "run"))
    assert p.returncode == 0, p.stderr[-2000:]
    assert _front(run) == _front(whole_res / "run")
    assert len(_front(run)) >= 1
    killed_rows = (run / "candidates.csv").read_text()
    assert killed_rows == (whole_res / "run" / "candidates.csv").read_text()
    assert [r["status"] for r in list_runs(killed_res)] == ["complete"]


def test_resume_refuses_a_different_config_or_input(tmp_path, results_dir, run_explore):
    from codesign.core.errors import RunError
    from codesign.explore import explore

    res = run_explore(
        estimator="proxy", seed=8, pop_size=8, generations=1, finetune_top=0, out=tmp_path / "r"
    )
    with pytest.raises(RunError, match="generations: 1 -> 2"):
        explore(resume=res.run_dir, generations=2)
    # a finished run resumes to the same front (nothing to redo)
    again = explore(resume=res.run_dir, console=None)
    assert again.front == res.front
    hw = tmp_path / "r" / "hw-changed.yaml"
    hw.write_text(MPIC.read_text().replace("power_mw: 5.38", "power_mw: 6.0"))
    info = json.loads((res.run_dir / "run.json").read_text())
    info["config"]["hw"] = str(hw)
    (res.run_dir / "run.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match="the hardware file changed"):
        explore(resume=res.run_dir)


def test_config_file_and_random_strategy_from_the_cli(tmp_path, results_dir):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"hw: {MPIC}\nworkload: resnet8\nstrategy: random\npop_size: 8\ngenerations: 2\n"
        f"results_dir: {results_dir}\n"
    )
    p = _cli("explore", "--config", str(cfg), "--seed", "3", "--out", str(tmp_path / "r"))
    assert p.returncode == 0, p.stderr[-2000:]
    info = RunDir(tmp_path / "r").read_info()
    assert info["config"]["strategy"] == "random" and info["config"]["seed"] == 3
    assert info["summary"]["evaluated"] == 16
    assert {r["strategy"] for r in RunDir(tmp_path / "r").read_rows("candidates.csv")} == {"random"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("pop_sise: 8\n")
    p = _cli("explore", "--config", str(bad))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "bad.yaml" in p.stderr and "pop_sise" in p.stderr and "unknown key" in p.stderr


def test_a_user_function_that_fails_is_one_clear_error():
    p = _cli("explore", "--hw", str(MPIC), "--workload", "os.path:join")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "os.path:join" in p.stderr and "join()" in p.stderr
