"""`explore`, the main job: prepare, estimate, search, select the front, re-score, report.

Every stage saves what it made in the run directory as it ends, the search checkpoints after
every generation, and fine-tunes land in the evaluation cache as they finish, so a run killed at
any moment resumes (`explore(resume=RUN_DIR)`, `codesign explore --resume RUN_DIR`) losing at
most one generation and redoing no finished fine-tune.
"""

from __future__ import annotations

import os
import socket
import sys
import types
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from codesign.cache import EvalCache
from codesign.config import WHERE_FIELDS, ExploreConfig
from codesign.core.candidates import Front
from codesign.core.errors import CodesignError, RunError
from codesign.core.imports import refuse_unnamed
from codesign.core.types import Objective
from codesign.data import how_to_get
from codesign.distributed import DaskEvaluator
from codesign.quant.train import evaluate
from codesign.report.html import write_report
from codesign.run import RunDir, open_run, package_versions
from codesign.search.checkpoint import Checkpointer
from codesign.stages import make_estimator, make_progress, prepare, rescore, search, select_front
from codesign.stages.prepare import Inputs, load_inputs


@dataclass
class RunResult:
    """What `explore` produced: the run directory, its `Front`, and the run's summary."""

    run_dir: Path
    front: Front
    config: ExploreConfig
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def fp_accuracy(self) -> float | None:
        """Held-out accuracy of the full-precision model in percent (None without data)."""
        return self.front.fp_accuracy

    @property
    def evaluated(self) -> int:
        """Distinct candidates the search scored."""
        return self.front.evaluated

    @property
    def objectives(self) -> tuple[Objective, ...]:
        """The objectives searched."""
        return self.front.objectives


def _resume_config(run_dir: Path, overrides: dict[str, Any]) -> tuple[ExploreConfig, dict]:
    """The stored config of `run_dir` with `overrides`; `RunError` naming what differs."""
    rd = open_run(run_dir)
    info = rd.read_info()
    stored = ExploreConfig.from_run(run_dir)
    if info["status"] == "running":
        raise RunError(
            f"--resume {run_dir}: the run is still running (pid {info.get('pid')} on "
            f"{info.get('host')})"
        )
    given = {k: v for k, v in overrides.items() if v is not None and k != "out"}
    source = str(Path(run_dir) / "run.json")
    refuse_unnamed(stored.workload, given.get("workload"), source, "--workload")
    refuse_unnamed(stored.data, given.get("data"), source, "--data")
    # where work is sent and written comes from this command, never from the file: a received
    # run.json must not send fine-tunes (and the base weights) to its sender's scheduler
    kept = {k: v for k, v in stored.to_dict().items() if k not in WHERE_FIELDS}
    kept["results_dir"] = str(Path(run_dir).resolve().parent)
    cfg = ExploreConfig.build("--resume", **{**kept, **given, "out": str(run_dir)})
    diffs = stored.differences(cfg)
    if diffs:
        raise RunError(f"--resume {run_dir}: the config differs from the run's: {'; '.join(diffs)}")
    return cfg, info


def _check_fingerprint(run_dir: Path, stored: dict[str, str], now: dict[str, str]) -> None:
    what = {
        "hardware": "the hardware file",
        "workload": "the workload's layer graph",
        "weights": "the base weights",
    }
    missing = [k for k in what if k not in stored]
    if missing and (run_dir / "checkpoint.pkl").exists():
        raise RunError(
            f"--resume {run_dir}: run.json has a checkpoint but no fingerprint of "
            f"{', '.join(what[k] for k in missing)}, so nothing shows the inputs are the run's "
            "own; rerun it without --resume"
        )
    if "hw_space" in stored or "hw_space" in now:  # a sizing run: its space file too
        what["hw_space"] = "the hardware space file"
    for k, label in what.items():
        if (k in stored or k == "hw_space") and stored.get(k) != now.get(k):
            raise RunError(
                f"--resume {run_dir}: {label} changed since the run started "
                f"({k} fingerprint {stored[k]} -> {now.get(k)})"
            )


def _python_objects(options: dict[str, Any]) -> dict[str, Any]:
    """Register a model object (`model=`) and a data function object (`data=`) given from
    Python under generated names, and put those names in the options."""
    from torch import nn

    from codesign.data import is_data_function, register_dataset
    from codesign.workload.registry import register_python_model

    out = dict(options)
    model = out.pop("model", None)
    if model is not None:
        if not isinstance(model, nn.Module | tuple):
            raise CodesignError(
                f"model=: got {type(model).__name__}, expected an nn.Module or "
                "(nn.Module, example_input)"
            )
        out["workload"] = register_python_model(model, out.get("input_shape"))
    data = out.get("data")
    if callable(data):
        name = f"python-data-{getattr(data, '__name__', 'fn')}-{id(data):x}"
        if not is_data_function(name):
            register_dataset(name)(data)
        out["data"] = name
    return out


def explore(
    config: ExploreConfig | str | Path | None = None,
    *,
    resume: str | Path | None = None,
    console: Console | None = None,
    **options: Any,
) -> RunResult:
    """Search per-layer bit-widths (and mappings) of a workload on a hardware model.

    `config` is an `ExploreConfig`, the path of a config file, or None; `options` are
    `ExploreConfig` fields (they override the file's). From Python, ``model=`` may be an
    ``nn.Module`` (with ``input_shape=``) or ``(module, example_input)``, and ``data=`` a
    function returning the splits (see `codesign.data.user`); both then run in this process
    (fine-tunes too). With `resume`, the run in that folder goes on from its checkpoint (its
    config must match; a mismatch is one `RunError`).
    Returns a `RunResult`; the run directory holds run.json, candidates.csv, pareto.csv /
    .json and pareto.html. Accuracy figures are in percent on the held-out test split,
    latency in ms, energy in uJ, memory in kB. Raises `CodesignError` on bad input.
    """
    console = console or Console(stderr=True)
    options = _python_objects(options)
    prior: dict[str, Any] = {}
    if resume is not None:
        cfg, prior = _resume_config(Path(resume), options)
    elif isinstance(config, ExploreConfig):
        cfg = config.model_copy(update=options) if options else config
        cfg = ExploreConfig.build("arguments", **cfg.to_dict())
    elif config is not None:
        cfg = ExploreConfig.from_file(config, **options)
    else:
        cfg = ExploreConfig.build("arguments", **options)
    torch.set_num_threads(cfg.torch_threads)
    inputs: Inputs | None = None  # loaded here only when the run directory needs their names
    if cfg.out is not None:
        run = RunDir(Path(cfg.out))
    else:
        inputs = load_inputs(cfg)
        name = RunDir.new_id(inputs.workload.name, inputs.hardware.name)
        run = RunDir.create(cfg.results_dir, name)  # exclusively: never another run's folder
    run_path = run.path
    run.lock()  # one process per run folder; a second resume is refused here
    run.info = {
        "status": "running",
        "command": "explore",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": prior.get("started") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "resumed": prior.get("resumed", 0) + (1 if resume is not None else 0),
        "config": cfg.to_dict(),
        "threads": cfg.torch_threads,
        "versions": package_versions(),
    }
    run.held = resume is not None  # run.json is written once the resume is checked
    run.note()
    console.print(f"run directory: [bold]{run_path}[/]")
    try:
        return _run(cfg, inputs, run, prior, console)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        error = f"{type(exc).__name__}: {exc}"
        run.note(status=status, error=error)  # held (not written) for a refused resume
        raise
    finally:
        run.close()


def _run(
    cfg: ExploreConfig,
    inputs: Inputs | None,
    run: RunDir,
    prior: dict[str, Any],
    console: Console,
) -> RunResult:
    cache = EvalCache(Path(cfg.results_dir) / "evals.sqlite")
    try:
        with (
            DaskEvaluator(cache, cfg.workers, cfg.scheduler, dashboard=cfg.dashboard) as ev,
            make_progress(console) as prog,
        ):
            ctx = prepare(cfg, run, console, inputs)
            if prior:
                _check_fingerprint(run.path, prior.get("fingerprint", {}), ctx.fingerprint)
            if not prior:
                run.copy_in(ctx.hw_path, "hw.yaml")
                if ctx.hw_space is not None:
                    run.copy_in(ctx.hw_space.source, "hw_space.yaml")
            run.held = False
            run.note(fingerprint=ctx.fingerprint)
            estimator = make_estimator(ctx, ev, prog)
            result = search(ctx, estimator, Checkpointer(run.checkpoint_path), prog, ev)
            front = select_front(ctx, result)
            run.save_front(front, ctx.channels)
            if ctx.data is not None and cfg.finetune_top > 0 and result.inloop is None:
                front = rescore(ctx, front, ev, prog)
                run.save_front(front, ctx.channels)
    finally:
        cache.close()
    write_report(run.path)
    summary = {
        "evaluated": front.evaluated,
        "pareto": len(front),
        "fp_test_accuracy": front.fp_accuracy,
    }
    run.info.pop("error", None)
    run.note(
        status="complete",
        summary=summary,
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    return RunResult(run.path, front, cfg, summary)


def supernet_train(
    hw: str | Path,
    workload: str = "mnist1d_cnn",
    *,
    steps: int | None = None,
    seed: int = 0,
    data: str | Path | None = None,
    weights: str | Path | None = None,
    results_dir: str | Path = "results",
    input_shape: tuple[int, ...] | None = None,
    granularity: str = "layer",
    console: Console | None = None,
) -> dict[str, Any]:
    """Train (or find in the cache) the switchable-precision supernet of `workload` on `hw`.

    It goes through the same `prepare` stage and supernet builder as `explore`, so a later
    `explore --estimator supernet` with the same workload, hardware, base weights, steps,
    seed and granularity finds it again (per channel it trains on per-channel draws). Returns
    its checkpoint path, whether it was cached, the full-precision test accuracy and the
    held-out accuracy (percent) of every uniform (activation, weight) setting.
    """
    import tempfile

    from codesign.stages.estimators import load_or_train

    console = console or Console(stderr=True)
    cfg = ExploreConfig.build(
        "supernet train",
        hw=str(hw),
        workload=workload,
        seed=seed,
        data=None if data is None else str(data),
        weights=None if weights is None else str(weights),
        results_dir=str(results_dir),
        input_shape=input_shape,
        granularity=granularity,
        supernet_steps=steps,
        estimator="supernet",
    )
    torch.set_num_threads(cfg.torch_threads)
    inputs = load_inputs(cfg)
    if not inputs.has_data:
        wl = inputs.workload
        raise CodesignError(
            f"supernet train: workload '{wl.name}' has no data here (dataset: "
            f"{wl.dataset or 'none'}): {how_to_get(wl.dataset)}"
        )
    with tempfile.TemporaryDirectory(prefix="codesign-supernet-") as scratch:
        run = RunDir(Path(scratch))  # prepare's run files; the supernet lands in the cache
        try:
            ctx = prepare(cfg, run, console, inputs)
            with make_progress(console) as prog:
                sn, path, cached = load_or_train(ctx, prog)
        finally:
            run.close()
    tables, test = ctx.tables, ctx.data.test
    n = tables.num_layers
    uniform = [
        {"act_bits": a, "weight_bits": w, "accuracy": sn.accuracy([a] * n, [w] * n, test)}
        for a in tables.act_bits
        for w in tables.weight_bits
        if w > 0
    ]
    return {
        "path": path,
        "cached": cached,
        "fp_accuracy": evaluate(ctx.model, test),
        "uniform": uniform,
    }


class _CallableModule(types.ModuleType):
    """Importing this module sets the attribute ``codesign.explore`` to the module, over the
    package's lazy `codesign.explore` function; calling the module runs `explore` all the same."""

    def __call__(self, *args: Any, **kwargs: Any) -> RunResult:
        return explore(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
