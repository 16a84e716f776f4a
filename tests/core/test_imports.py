"""The user's own `module:function` specs import from the folder codesign runs in, as with
`python -m`, also through the console script (whose bin/ folder, not the current one, starts
the path)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from codesign.core.imports import import_user_module

MODELS = """
import torch
from torch import nn


def build():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
    return model, torch.zeros(1, 1, 8, 8)
"""
DATA = """
def load():
    raise RuntimeError("mypkg.data.load ran")
"""


def _user_package(folder: Path, name: str) -> None:
    (folder / name).mkdir()
    (folder / name / "__init__.py").write_text("")
    (folder / name / "models.py").write_text(MODELS)
    (folder / name / "data.py").write_text(DATA)


def test_import_user_module_puts_the_current_folder_first(tmp_path, monkeypatch):
    name = "codesign_test_userpkg"
    _user_package(tmp_path, name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    for mod in (name, f"{name}.models"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    try:
        mod = import_user_module(f"{name}.models")
        assert Path(mod.__file__).parent == tmp_path / name
        assert sys.path[0] == str(tmp_path)
    finally:
        for mod in (name, f"{name}.models"):
            sys.modules.pop(mod, None)


def test_cli_imports_workload_and_data_from_the_folder_it_runs_in(tmp_path):
    _user_package(tmp_path, "mypkg")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "codesign"), "explore", "--hw", "mpic"]
        + ["--workload", "mypkg.models:build", "--data", "mypkg.data:load"]
        + ["--threads", "1", "--results-dir", str(tmp_path / "results")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    # the workload is resolved (imported and built) before the data, whose function then runs:
    # its error is the proof that both modules were found in this folder
    err = " ".join(proc.stderr.split())  # rich wraps long lines
    assert proc.returncode == 2, err[-3000:]
    assert "cannot import" not in err
    assert "--data mypkg.data:load: calling it failed: RuntimeError: mypkg.data.load ran" in err
