"""Shared fixtures: the MPIC model, extracted workloads, one small explore run per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rich.console import Console

from codesign.hw import load_hardware
from codesign.workload import extract, get_workload

ROOT = Path(__file__).resolve().parents[1]
MPIC = ROOT / "hw_models" / "mpic.yaml"


@pytest.fixture(scope="session")
def mpic():
    return load_hardware(MPIC)


@pytest.fixture(scope="session")
def graphs():
    cache = {}

    def get(name: str):
        if name not in cache:
            w = get_workload(name)
            cache[name] = extract(w.build(), w.example_input(), name)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def trained():
    """(digits_cnn trained briefly, its layer graph, the digits splits); shared, never mutated."""
    from codesign.data import load_dataset
    from codesign.quant.train import TrainRecipe, train_full_precision

    d = load_dataset("digits")
    w = get_workload("digits_cnn")
    torch.manual_seed(0)
    m = train_full_precision(w.build(), d.train, TrainRecipe(steps=300, lr=3e-3), seed=0)
    return m, extract(m, w.example_input()), d


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory):
    """One results folder per session, so the full-precision model is trained once."""
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="session")
def run_explore(results_dir):
    """`explore` on MPIC, quiet, into the session's results folder, unless told otherwise."""
    from codesign.explore import explore

    def run(**kwargs):
        kwargs.setdefault("hw", MPIC)
        kwargs.setdefault("workload", "digits_cnn")  # fast; the CLI's default is mnist1d_cnn
        kwargs.setdefault("results_dir", results_dir)
        kwargs.setdefault("anchors", 0)  # anchor fine-tunes where a test asks for them
        kwargs.setdefault("baselines", False)  # the baselines' fine-tunes likewise
        kwargs.setdefault("console", Console(quiet=True))
        return explore(**kwargs)

    return run


# the small but complete run of `small_run`; tests re-run it to check the caches
SMALL_RUN = dict(
    estimator="proxy",
    workload="digits_cnn",
    seed=3,
    pop_size=16,
    generations=4,
    finetune_top=2,
    finetune_steps=60,
    anchors=3,
)


@pytest.fixture(scope="session")
def small_run(results_dir, run_explore):
    """A small but complete explore on digits (fine-tunes included)."""
    return run_explore(**SMALL_RUN, out=results_dir / "small")


SN_RUN = dict(estimator="supernet", supernet_steps=200, seed=5, pop_size=16, generations=3)


@pytest.fixture(scope="session")
def supernet_run(results_dir, run_explore):
    """A small explore on digits scored by a supernet (one fine-tune)."""
    return run_explore(**SN_RUN, finetune_top=1, finetune_steps=30, out=results_dir / "sn-run")
