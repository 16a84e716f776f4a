"""The stages pass typed values, never state left on the context (`codesign/stages/`)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from rich.console import Console

from codesign.core.errors import ConfigError
from codesign.search.csq import CsqStrategy
from codesign.search.dnas import DnasStrategy
from codesign.search.nsga2 import NSGA2Strategy
from codesign.search.registry import STRATEGIES
from codesign.stages import Context, SearchResult, prepare, search, select_front
from codesign.stages.context import make_progress

from ..conftest import MPIC


@pytest.fixture(scope="module")
def ctx(results_dir, tmp_path_factory):
    """A prepared digits run on MPIC (its run files in a folder of its own)."""
    from codesign.config import ExploreConfig
    from codesign.run import RunDir

    cfg = ExploreConfig.build(
        "test",
        hw=str(MPIC),
        workload="digits_cnn",
        pop_size=8,
        generations=2,
        results_dir=str(results_dir),
        estimator="proxy",
    )
    run = RunDir(tmp_path_factory.mktemp("stages-run"))
    yield prepare(cfg, run, Console(quiet=True))
    run.close()


def test_prepare_returns_a_frozen_context_and_notes_run_json(ctx):
    assert isinstance(ctx, Context)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.fp_accuracy = 0.0  # stages read the context, never write to it
    assert not hasattr(ctx, "info") and not hasattr(ctx, "inloop")
    info = json.loads((ctx.run.path / "run.json").read_text())
    assert info["hardware"]["family"] == "mcu"
    assert info["objectives"] == [o.value for o in ctx.objectives]


def test_search_returns_a_result_that_select_front_takes(ctx, tmp_path):
    from codesign.search.checkpoint import Checkpointer

    with make_progress(Console(quiet=True)) as prog:
        result = search(ctx, None if ctx.data is None else _flat(ctx), Checkpointer(None), prog)
    assert isinstance(result, SearchResult) and result.inloop is None
    assert result.has_estimate and len(result.archive) > 0
    front = select_front(ctx, result)
    assert len(front) >= 2 and front.evaluated == len(result.archive)
    assert all(front.est_accuracy(c) is not None for c in front.candidates)
    progress = json.loads((ctx.run.path / "run.json").read_text())["progress"]
    assert progress == {"generation": 2, "evaluated": len(result.archive)}


def _flat(ctx):
    """An estimator that loses 1 pp per layer below 8 weight bits (cheap, deterministic)."""
    import numpy as np

    class Flat:
        def loss(self, batch):
            return np.array(
                [sum(p.weight_bits[0] < 8 for p in batch.precisions(i)) for i in range(len(batch))],
                dtype=float,
            )

    return Flat()


def test_each_strategy_builds_itself_from_the_context(ctx):
    cfg = ctx.config.model_copy(update={"granularity": "channel"})
    nsga = STRATEGIES.get("nsga2").from_context(ctx, cfg)
    assert isinstance(nsga, NSGA2Strategy) and nsga.granularity == "channel"
    assert (nsga.pop_size, nsga.generations) == (8, 2)
    dnas = STRATEGIES.get("dnas").from_context(ctx, cfg)
    assert isinstance(dnas, DnasStrategy) and dnas.granularity == "group:1"  # a gene a channel
    csq = STRATEGIES.get("csq").from_context(ctx, cfg)
    assert isinstance(csq, CsqStrategy) and csq.problem.objective.value == "memory"
    lat = STRATEGIES.get("csq").from_context(ctx, cfg.model_copy(update={"regulariser": "latency"}))
    assert lat.problem.objective.value == "latency"
    no_data = dataclasses.replace(ctx, data=None)
    with pytest.raises(ConfigError, match="--strategy dnas trains the network"):
        STRATEGIES.get("dnas").from_context(
            no_data, ctx.config.model_copy(update={"strategy": "dnas"})
        )


def test_supernet_train_honours_granularity_and_explore_finds_it(results_dir, run_explore):
    from codesign.explore import supernet_train

    kw = dict(workload="digits_cnn", steps=15, seed=11, results_dir=results_dir)
    layer = supernet_train(MPIC, granularity="layer", console=Console(quiet=True), **kw)
    chan = supernet_train(MPIC, granularity="channel", console=Console(quiet=True), **kw)
    assert layer["path"] != chan["path"]  # per channel it trains on per-channel draws
    assert not chan["cached"]
    res = run_explore(
        estimator="supernet",
        granularity="channel",
        supernet_steps=15,
        seed=11,
        pop_size=8,
        generations=1,
        finetune_top=0,
    )
    info = json.loads((res.run_dir / "run.json").read_text())
    assert info["supernet"]["cached"] and info["supernet"]["path"] == str(chan["path"])
