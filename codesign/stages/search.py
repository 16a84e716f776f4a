"""Stage 3, `search`: the configured strategy over the run's space, to the end.

Returns a `SearchResult`: the archive of every evaluated candidate, and (under
`--rescore-per-gen`) the rescorer that fine-tuned some of them while it ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.progress import Progress

from codesign.core.errors import CodesignError
from codesign.core.protocols import AccuracyEstimator
from codesign.core.types import Objective
from codesign.distributed import DaskEvaluator
from codesign.search.archive import Archive
from codesign.search.checkpoint import Checkpointer
from codesign.search.hwspace import SizedSpace, SizedTables
from codesign.search.loop import run_search, scorer
from codesign.search.registry import STRATEGIES
from codesign.search.space import make_space
from codesign.stages.context import Context
from codesign.stages.inloop import CalibratedEstimator, InLoopRescorer


@dataclass(frozen=True)
class SearchResult:
    """What the search made: every evaluated candidate (`archive`), whether its accuracy
    axis was estimated (`has_estimate`), and the in-search rescorer (None without
    `--rescore-per-gen`), whose measured points `select_front` builds the front from;
    `sized` the per-hardware-point tables of a sizing run (`--hw-space`)."""

    archive: Archive
    has_estimate: bool
    inloop: InLoopRescorer | None = None
    sized: SizedTables | None = None


def search(
    ctx: Context,
    estimator: AccuracyEstimator | None,
    checkpointer: Checkpointer,
    progress: Progress,
    ev: DaskEvaluator | None = None,
) -> SearchResult:
    """Run the configured strategy to the end (from the checkpoint, when there is one).

    Every new candidate goes to candidates.csv as its generation ends; after every generation
    the strategy, RNG and archive are checkpointed and run.json notes the progress. With
    `--rescore-per-gen` (and `ev`), fine-tunes run inside the search (`stages.inloop`).
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
    strategy = STRATEGIES.get(cfg.strategy, "--strategy").from_context(ctx, cfg)
    space = make_space(
        ctx.tables, [s.K for s in ctx.graph.quantizable], strategy.granularity, ctx.ranking
    )
    tables = ctx.tables
    sized = None
    if ctx.hw_space is not None:  # hardware genes beside the bit and mapping genes
        sized = SizedTables(ctx.hw_space, ctx.graph, ctx.tables, cfg.mapper, ctx.cache_dir)
        space, tables = SizedSpace(space, ctx.hw_space), sized
    archive = Archive(
        ctx.tables.layer_names,
        space.has_mapping,
        on_new=lambda h, rows: ctx.run.append_rows("candidates.csv", h, rows),
        on_restore=lambda h, rows: ctx.run.rewrite_rows("candidates.csv", h, rows),
        hardware=None if ctx.hw_space is None else (ctx.hw_space.names, ctx.hw_space.values),
    )
    hook = None
    if cfg.rescore_per_gen > 0:
        estimator = CalibratedEstimator(estimator)
        hook = InLoopRescorer(ctx, archive, estimator, ev, progress)
    resume = checkpointer.load()
    if resume is not None:
        ctx.console.print(
            f"resuming the search after generation {resume['generation']} of {cfg.generations} "
            f"({len(resume['archive']['seen'])} candidates from the checkpoint)"
        )
    task = progress.add_task(f"{strategy.name} search", total=cfg.generations)

    def on_generation(n: int) -> None:
        progress.update(task, completed=n)
        notes = {"progress": {"generation": n, "evaluated": len(archive)}}
        if sized is not None:
            notes["progress"]["hardware_points"] = sized.points_built
            progress.update(task, description=f"{strategy.name} search ({sized.points_built} hw)")
        if getattr(strategy, "log", None):  # what a gradient sweep did at each generation
            notes["strategy_log"] = list(strategy.log)
        if hook is not None:
            notes["inloop"] = hook.summary()
        ctx.run.note(**notes)

    run_search(
        space,
        strategy,
        scorer(tables, ctx.objectives, estimator, cfg.max_area),
        archive,
        len(ctx.objectives),
        cfg.seed,
        checkpointer=checkpointer,
        resume=resume,
        on_generation=on_generation,
        hook=hook,
    )
    if hook is not None:
        hook.finish(strategy.generation)
        ctx.run.note(inloop=hook.summary())
        ctx.console.print(
            f"fine-tunes in the search: {hook.computed} computed, {hook.from_cache} from the "
            f"cache; calibration on {hook.estimator.points} points"
        )
        if not len(hook.front_ids()):
            ctx.console.print(
                "[yellow]no fine-tune in the search succeeded: the front is built from estimates[/]"
            )
            hook = None
    if sized is not None:
        ctx.console.print(
            f"hardware points priced: {sized.points_built} of {ctx.hw_space.size} in the space"
        )
    return SearchResult(archive, estimator is not None, hook, sized)
