"""The built wheel is one real package: the hardware YAMLs and the bundled workloads inside
`codesign`, nothing else at top level, and `codesign explore --hw mpic` runs from an empty folder
after installing it into a fresh virtual environment (not the checkout's editable install)."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _clean_env() -> dict[str, str]:
    """This environment without anything that would put the checkout on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `pip wheel` builds from a copy of the package sources (no build/ or egg-info
    left in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "codesign", src / "codesign", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp_path_factory.mktemp("dist")
    # no build isolation: the test extra brings setuptools>=77, so nothing is downloaded
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*cmd, "-w", str(out), str(src)], check=True, env=_clean_env())
    (whl,) = out.glob("codesign-*.whl")
    return whl


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; torch and the other dependencies come from this
    environment's site-packages, listed in a .pth file (whose own .pth files, among them the
    editable install's finder, are not run)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "deps-from-test-env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        env=_clean_env(),
    )
    return root


def test_wheel_holds_hardware_and_workloads_inside_codesign(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"codesign", "codesign-0.1.0.dist-info"}
    yamls = sorted((ROOT / "hw_models").glob("**/*.yaml"))
    assert {"eyeriss_space.yaml", "cacti_45nm.yaml"} <= {y.name for y in yamls}
    for yaml in yamls:
        # byte for byte, so the comments that cite each figure's source ship too (hardware
        # files, spaces, component tables)
        rel = yaml.relative_to(ROOT / "hw_models").as_posix()
        assert zipfile.ZipFile(wheel).read(f"codesign/hw_models/{rel}") == yaml.read_bytes()
    bundled = {p.name for p in (ROOT / "workloads").glob("*.py")}
    assert {"__init__.py", "digits.py"} <= bundled
    assert {f"codesign/workloads/{n}" for n in bundled} <= set(names)
    top = zipfile.ZipFile(wheel).read("codesign-0.1.0.dist-info/top_level.txt").decode()
    assert top.split() == ["codesign"]


def test_explore_from_an_empty_folder_after_installing_the_wheel(venv, tmp_path):
    python = venv / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import codesign, codesign.workloads; print(codesign.__file__)"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env=_clean_env(),
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), f"codesign imported from {where}, not the wheel"

    empty = tmp_path / "empty"
    empty.mkdir()
    results = tmp_path / "results"
    proc = subprocess.run(
        [
            str(venv / "bin" / "codesign"),
            "explore",
            "--hw",
            "mpic",
            "--workload",
            "digits_cnn",
            "--estimator",
            "proxy",
            "--pop-size",
            "8",
            "--generations",
            "2",
            "--finetune-top",
            "0",
            "--threads",
            "1",
            "--results-dir",
            str(results),
        ],
        cwd=empty,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(empty.iterdir()) == []
    (run,) = (p for p in results.iterdir() if p.is_dir() and p.name != "cache")
    front = json.loads((run / "pareto.json").read_text())
    assert front["hardware"] == "MPIC" and front["workload"] == "digits_cnn"
    assert len(front["candidates"]) >= 1
    assert (run / "hw.yaml").read_text() == (ROOT / "hw_models" / "mpic.yaml").read_text()
