"""A tiny finished run to craft hostile run folders from (copied, never changed in place)."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def tiny_run(results_dir, run_explore):
    """A finished explore on digits: proxy estimator, one generation, no fine-tunes."""
    return run_explore(
        estimator="proxy", seed=8, pop_size=8, generations=1, finetune_top=0,
        out=results_dir / "badinput-base",
    )  # fmt: skip


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A copy of `tiny_run` in this test's folder (its results folder is the session's)."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, dst, ignore=shutil.ignore_patterns("run.lock"))
    return dst
