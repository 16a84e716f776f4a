"""The stages of a run, each a function of the `Context` and the previous stage's value:

    prepare(cfg) -> Context -> make_estimator -> search -> select_front -> rescore -> Front

`codesign.explore` chains them, saving each result in the run directory as it is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.progress import Progress

from codesign.core.candidates import (
    Candidate,
    Front,
    Rescore,
)
from codesign.core.errors import CodesignError
from codesign.core.protocols import AccuracyEstimator
from codesign.core.types import Configuration, Objective
from codesign.distributed import DaskEvaluator
from codesign.families import price_network
from codesign.quant.evaluate import FinetuneTask
from codesign.search.archive import Archive, pareto_order
from codesign.search.checkpoint import Checkpointer
from codesign.search.dnas import DnasProblem
from codesign.search.loop import run_search, scorer
from codesign.search.pareto import pareto_mask, spread
from codesign.search.registry import STRATEGIES
from codesign.search.space import make_space
from codesign.stages.estimators import ESTIMATORS, finetune_task, make_estimator
from codesign.stages.inloop import CalibratedEstimator, InLoopRescorer
from codesign.stages.prepare import Context, make_progress, prepare

__all__ = [
    "ESTIMATORS",
    "Context",
    "make_estimator",
    "make_progress",
    "prepare",
    "rescore",
    "search",
    "select_front",
]


def search(
    ctx: Context,
    estimator: AccuracyEstimator | None,
    checkpointer: Checkpointer,
    progress: Progress,
    ev: DaskEvaluator | None = None,
) -> Archive:
    """Run the configured strategy to the end (from the checkpoint, when there is one).

    Every new candidate goes to candidates.csv as its generation ends; after every generation
    the strategy, RNG and archive are checkpointed and run.json notes the progress. With
    `--rescore-per-gen` (and `ev`), fine-tunes run inside the search (`stages.inloop`); the
    rescorer is left in `ctx.inloop` for `select_front`.
    """
    cfg = ctx.config
    if Objective.ACCURACY_LOSS in ctx.objectives and estimator is None:
        raise CodesignError("the accuracy_loss objective needs an accuracy estimator")
    if cfg.rescore_per_gen > 0 and (
        estimator is None or ev is None or Objective.ACCURACY_LOSS not in ctx.objectives
    ):
        raise CodesignError(
            "--rescore-per-gen fine-tunes candidates during the search: it needs data and the "
            "accuracy_loss objective"
        )
    cls = STRATEGIES.get(cfg.strategy, "--strategy")
    kwargs: dict[str, Any] = {"pop_size": cfg.pop_size, "generations": cfg.generations}
    granularity = cfg.granularity
    if getattr(cls, "needs_problem", False):  # a gradient strategy trains the network
        if ctx.data is None:
            raise CodesignError(
                f"--strategy {cfg.strategy} trains the network on its data, and workload "
                f"'{ctx.workload.name}' has none here"
            )
        kwargs["problem"] = DnasProblem(
            ctx.model, ctx.graph, ctx.data.train, ctx.tables, _regulariser(ctx, cls)
        )
        if granularity == "channel":  # a softmax per channel: one gene per channel
            granularity = "group:1"
    space = make_space(ctx.tables, [s.K for s in ctx.graph.quantizable], granularity, ctx.ranking)
    strategy = cls(**kwargs)
    archive = Archive(
        ctx.tables.layer_names,
        space.has_mapping,
        lambda h, rows: ctx.run.append_rows("candidates.csv", h, rows),
    )
    hook = None
    if cfg.rescore_per_gen > 0:
        estimator = CalibratedEstimator(estimator)
        hook = InLoopRescorer(ctx, archive, estimator, ev, progress)
        ctx.inloop = hook
    resume = checkpointer.load()
    if resume is not None:  # the rows of a generation that did not finish are dropped
        archive.restore(resume["archive"])
        ctx.run.rewrite_rows("candidates.csv", archive.header, archive.rows())
        ctx.console.print(
            f"resuming the search after generation {resume['generation']} of {cfg.generations} "
            f"({len(archive)} candidates from the checkpoint)"
        )
    task = progress.add_task(f"{strategy.name} search", total=cfg.generations)

    def on_generation(n: int) -> None:
        progress.update(task, completed=n)
        ctx.info["progress"] = {"generation": n, "evaluated": len(archive)}
        if getattr(strategy, "log", None):  # what a gradient sweep did at each generation
            ctx.info["strategy_log"] = list(strategy.log)
        if hook is not None:
            ctx.info["inloop"] = hook.summary()
        ctx.save_info()

    run_search(
        space,
        strategy,
        scorer(ctx.tables, ctx.objectives, estimator),
        archive,
        len(ctx.objectives),
        cfg.seed,
        checkpointer,
        resume,
        on_generation,
        hook,
    )
    if hook is not None:
        hook.finish(strategy.generation)
        ctx.info["inloop"] = hook.summary()
        ctx.save_info()
        ctx.console.print(
            f"fine-tunes in the search: {hook.computed} computed, {hook.from_cache} from the "
            f"cache; calibration on {hook.estimator.points} points"
        )
    return archive


_REGULARISERS = {
    "size": Objective.MEMORY,
    "latency": Objective.LATENCY,
    "energy": Objective.ENERGY,
}


def _regulariser(ctx: Context, cls: Any) -> Objective:
    """The cost a gradient strategy's regulariser weighs: `--regulariser`, else the strategy's
    own default, else the run's first cost objective (MEMORY stands for weight bytes)."""
    if ctx.config.regulariser is not None:
        return _REGULARISERS[ctx.config.regulariser]
    default = getattr(cls, "default_regulariser", None)
    if default is not None:
        return default
    return next(o for o in ctx.objectives if o != Objective.ACCURACY_LOSS)


def select_front(ctx: Context, archive: Archive, has_estimate: bool) -> Front:
    """The feasible non-dominated candidates of `archive`, priced exactly per layer, sorted by
    the first cost objective. `CodesignError` when no candidate fits the memory."""
    F, feasible = archive.objectives(), archive.feasible()
    tables = ctx.tables
    if not feasible.any():
        smallest = archive.metric("peak_kb").min()
        raise CodesignError(
            f"no evaluated configuration of {ctx.workload.name} fits in {ctx.hardware.name}'s "
            f"memory ({tables.memory_limit_bytes / 1e3:.0f} kB); smallest peak seen: "
            f"{smallest:.1f} kB"
        )
    objs = ctx.objectives
    cost_cols = [i for i, o in enumerate(objs) if o != Objective.ACCURACY_LOSS]
    other = [i for i in range(len(objs)) if i not in cost_cols]
    inloop = ctx.inloop
    if inloop is not None and len(inloop.front_ids()):  # the front of measured points only
        F = inloop.current_objectives()
        ids = pareto_order(F, inloop.front_ids(), cost_cols + other)
    else:
        if inloop is not None:
            ctx.console.print(
                "[yellow]no fine-tune in the search succeeded: the front is built from estimates[/]"
            )
            ctx.inloop = inloop = None
        ids = pareto_order(F, np.flatnonzero(pareto_mask(F, feasible)), cost_cols + other)
    batch = archive.batch(ids)
    loss = archive.metric("est_accuracy_loss_pp")
    cands = []
    for j, cid in enumerate(ids):
        cid = int(cid)
        precisions = batch.precisions(j)
        mapping = batch.mapping_of(j)
        config = Configuration.over(tables.layer_names, precisions, mapping)
        c = Candidate(
            id=cid,
            generation=archive.generation(cid),
            strategy=archive.strategy(cid),
            precisions=precisions,
            mapping=mapping,
            cost=price_network(ctx.graph, ctx.hardware, config, ctx.config.mapper, ctx.cache_dir),
            est_accuracy_loss=float(loss[cid]) if has_estimate else None,
        )
        if inloop is not None:
            c = c.with_rescore(inloop.rescore_of(cid))
        cands.append(c)
    return Front(
        workload=ctx.workload.name,
        hardware=ctx.hardware.name,
        family=ctx.family.name,
        objectives=objs,
        layers=tables.layer_names,
        candidates=tuple(cands),
        fp_accuracy=ctx.fp_accuracy,
        memory_limit_bytes=tables.memory_limit_bytes,
        evaluated=len(archive),
        strategy=ctx.config.strategy,
    )


FINETUNE_HEADER = [
    "rank",
    "id",
    "status",
    "ptq_accuracy",
    "finetuned_accuracy",
    "recipe",
    "steps",
    "cached",
    "seconds",
    "reason",
]


def rescore(ctx: Context, front: Front, ev: DaskEvaluator, progress: Progress) -> Front:
    """Fine-tune up to `finetune_top` points spread along the front (cache first), scored on
    the held-out test split; returns the front with a `Rescore` on each of them.

    Each result is appended to finetune.csv as it arrives and stored in the evaluation cache,
    so a run killed here and resumed redoes no fine-tune that had finished.
    """
    cfg = ctx.config
    picks = spread(len(front), cfg.finetune_top)
    tasks: list[FinetuneTask] = []
    rank_of: dict[str, int] = {}
    for r in picks:
        t = finetune_task(ctx, front.candidates[r].precisions, "test", keep=True)
        tasks.append(t)
        rank_of[t.key] = r
    cands = list(front.candidates)
    ctx.run.rewrite_rows("finetune.csv", FINETUNE_HEADER, [])
    bar = progress.add_task(
        f"fine-tuning {len(picks)} Pareto points ({ctx.recipe.name})", total=len(picks)
    )

    def done(t: FinetuneTask, res: dict[str, Any], cached: bool) -> None:
        r = rank_of[t.key]
        ok = res.get("status") == "ok"
        rs = Rescore(
            method="finetune",
            recipe=ctx.recipe.name,
            steps=ctx.recipe.steps,
            split="test",
            status="ok" if ok else "failed",
            accuracy=res.get("accuracy") if ok else None,
            ptq_accuracy=res.get("ptq_accuracy"),
            cached=cached,
            seconds=res.get("seconds"),
            reason=None if ok else res.get("reason"),
            key=t.key,
        )
        cands[r] = cands[r].with_rescore(rs)
        ctx.run.append_rows(
            "finetune.csv",
            FINETUNE_HEADER,
            [
                [
                    r,
                    cands[r].id,
                    res.get("status"),
                    rs.ptq_accuracy,
                    rs.accuracy,
                    rs.recipe,
                    rs.steps,
                    cached,
                    rs.seconds,
                    rs.reason,
                ]
            ],
        )
        progress.advance(bar)

    hits0, computed0, failed0 = ev.cache_hits, ev.computed, ev.failed
    ev.run(tasks, done)
    hits, computed, failed = ev.cache_hits - hits0, ev.computed - computed0, ev.failed - failed0
    cache_path = ev.cache.path if ev.cache is not None else None
    ctx.info["finetune"] = {
        "recipe": ctx.recipe.name,
        "steps": ctx.recipe.steps,
        "requested": len(tasks),
        "from_cache": hits,
        "computed": computed,
        "failed": failed,
        "executor": ev.describe(),
        "cache": str(cache_path),
    }
    if computed == 0 and tasks:
        ctx.console.print(
            f"no new fine-tunes: all {len(tasks)} results came from the cache {cache_path}"
        )
    elif tasks:
        ctx.console.print(
            f"fine-tunes on {ev.describe()}: {computed} computed ({failed} failed), "
            f"{hits} from the cache {cache_path}"
        )
    return front.with_candidates(cands)
