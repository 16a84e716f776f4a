"""Stage 2, `make_estimator(ctx)`: the accuracy estimator the search scores candidates with.

One registry (`ESTIMATORS`), one decorated builder per estimator; a builder takes the `Context`,
the Dask evaluator (for estimators that fine-tune) and the progress display.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.progress import Progress

from codesign.core.protocols import AccuracyEstimator
from codesign.core.registry import Registry
from codesign.core.types import Precision
from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.estimators import FinetuneEstimator, SupernetEstimator
from codesign.quant.evaluate import FinetuneTask, make_task
from codesign.quant.proxy import PRUNE_FRACTIONS, measure_sensitivity
from codesign.quant.supernet import Supernet, SupernetSchedule, load_or_train_supernet
from codesign.quant.train import evaluate
from codesign.search.space import make_space
from codesign.stages.context import Context

Builder = Callable[[Context, DaskEvaluator, Progress], AccuracyEstimator]
ESTIMATORS: Registry[Builder] = Registry("estimator")


def quant_config(ctx: Context, precisions: Sequence[Precision]) -> QuantConfig:
    """The `QuantConfig` of one candidate (a `Precision` per quantizable layer, in order)."""
    layers = []
    for spec, p in zip(ctx.graph.quantizable, precisions):
        layers.append(
            LayerQuant(
                spec.name,
                spec.source,
                spec.kind.value,
                p.act_bits,
                p.weight_bits,
                fused=spec.fused,
            )
        )
    return QuantConfig(ctx.workload.name, tuple(layers))


def finetune_task(
    ctx: Context, precisions: Sequence[Precision], split: str, keep: bool = False
) -> FinetuneTask:
    """A fine-tune task for one candidate, scored on `split` ('val', 'test' or 'val,test');
    `keep` keeps the fine-tuned model under `ctx.cache_dir`/artefacts (for exports)."""
    task = make_task(
        ctx.workload,
        ctx.base,
        quant_config(ctx, precisions),
        ctx.recipe,
        ctx.config.seed,
        split=split,
        data_path=ctx.config.data,
    )
    return replace(task, artefact_dir=str(ctx.cache_dir / "artefacts")) if keep else task


@ESTIMATORS.register("proxy")
def _proxy(ctx: Context, ev: DaskEvaluator, prog: Progress) -> AccuracyEstimator:
    """Per-layer post-training sensitivity, summed; written to sensitivity.json."""
    t = ctx.tables
    n = t.num_layers * (len(t.weight_bits) + len(t.act_bits))
    ranking = None
    if ctx.config.granularity != "layer":
        ranking = ctx.ranking or [np.arange(int(k)) for k in t.channels]
        n += sum(t.prunable) * len(PRUNE_FRACTIONS)
    task = prog.add_task("layer sensitivity", total=n)
    proxy = measure_sensitivity(
        ctx.model,
        ctx.graph.quantizable,
        t.act_bits,
        t.weight_bits,
        ctx.data.train,
        ctx.data.val,
        workload=ctx.workload.name,
        progress=lambda: prog.advance(task),
        ranking=ranking,
        prunable=t.prunable,
    )
    ctx.run.write_json(
        "sensitivity.json",
        {
            "layers": list(t.layer_names),
            "act_bits": list(t.act_bits),
            "weight_bits": list(t.weight_bits),
            "weight_drop_pp": proxy.weight_drop.tolist(),
            "act_drop_pp": proxy.act_drop.tolist(),
            "fp_val_accuracy": proxy.fp_accuracy,
            "prune_fractions": list(proxy.prune_fractions),
            "prune_drop_pp": None if proxy.prune_drop is None else proxy.prune_drop.tolist(),
        },
    )
    return proxy


SAMPLING_VERSION = "v2"  # v2: per-channel batch-norm statistics, alternating with per-layer draws


def _space_sampler(ctx: Context) -> tuple[Callable, str]:
    """A function drawing one random configuration of the run's per-channel search space
    (for supernet training), and a name for it that changes with the space and the ranking."""
    space = make_space(
        ctx.tables, [s.K for s in ctx.graph.quantizable], ctx.config.granularity, ctx.ranking
    )

    def sample(rng: np.random.Generator) -> tuple[list[int], list]:
        b = space.decode(space.random(1, rng))
        while any(int(w.max()) == 0 for w in b.weight_bits):  # a cut network: draw again
            b = space.decode(space.random(1, rng))
        return [int(a) for a in b.act_bits[0]], [p.weight_bits for p in b.precisions(0)]

    rank = "" if ctx.ranking is None else repr([r.tolist() for r in ctx.ranking])
    digest = hashlib.sha1(rank.encode()).hexdigest()[:8]
    return sample, f"{ctx.config.granularity}:{digest}:{SAMPLING_VERSION}"


def load_or_train(ctx: Context, prog: Progress) -> tuple[Supernet, Path, bool]:
    """The run's switchable-precision supernet: trained on the run's own space (per-channel
    draws at channel granularity) once per workload, hardware, weights, schedule and seed, and
    cached under `ctx.cache_dir`. Returns it, its checkpoint path and whether it was cached."""
    t = ctx.tables
    sample, sampling = None, "layer"
    if ctx.config.granularity != "layer":
        sample, sampling = _space_sampler(ctx)
    schedule = SupernetSchedule(steps=ctx.config.supernet_steps, sampling=sampling)
    sn, path, cached = load_or_train_supernet(
        ctx.model,
        ctx.graph,
        workload=ctx.workload.name,
        hw_name=ctx.hardware.name,
        act_bits=t.act_bits,
        weight_bits=t.weight_bits,
        train=ctx.data.train,
        cache_dir=ctx.cache_dir,
        base_hash=ctx.base[0],
        schedule=schedule,
        seed=ctx.config.seed,
        progress=prog,
        sample=sample,
    )
    ctx.run.note(supernet={"path": str(path), "cached": cached, "steps": schedule.steps})
    ctx.console.print(
        f"supernet: {'loaded from' if cached else 'trained and cached in'} [dim]{path}[/]"
    )
    return sn, path, cached


@ESTIMATORS.register("supernet")
def _supernet(ctx: Context, ev: DaskEvaluator, prog: Progress) -> AccuracyEstimator:
    """The switchable-precision supernet (`load_or_train`); one forward pass per distinct
    candidate."""
    sn, _, _ = load_or_train(ctx, prog)
    return SupernetEstimator(sn, ctx.data.val, evaluate(ctx.model, ctx.data.val))


@ESTIMATORS.register("finetune")
def _finetune(ctx: Context, ev: DaskEvaluator, prog: Progress) -> AccuracyEstimator:
    """A short fine-tune of every distinct candidate (scored on the validation split)."""
    graph = ctx.graph

    def run_batch(configs: list[tuple[list[int], list[int]]]) -> list[float]:
        tasks = [
            finetune_task(
                ctx,
                [
                    Precision(a, w) if isinstance(w, tuple) else Precision.uniform(a, w, s.K)
                    for s, a, w in zip(graph.quantizable, act, wts)
                ],
                "val",
            )
            for act, wts in configs
        ]
        res = ev.run(tasks)
        return [
            float("nan") if res[t.key].get("status") != "ok" else res[t.key]["accuracy"]
            for t in tasks
        ]

    ctx.console.print(
        "[yellow]--estimator finetune fine-tunes every distinct candidate the search "
        f"visits ({ctx.recipe.steps} steps each); expect a long run[/]"
    )
    return FinetuneEstimator(run_batch, evaluate(ctx.model, ctx.data.val))


def make_estimator(ctx: Context, ev: DaskEvaluator, prog: Progress) -> AccuracyEstimator | None:
    """The configured estimator (`ctx.config.estimator`), or None for a run without data."""
    if ctx.data is None:
        return None
    ctx.run.note(estimator=ctx.config.estimator)
    return ESTIMATORS.get(ctx.config.estimator, "--estimator")(ctx, ev, prog)
