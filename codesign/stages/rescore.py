"""Stage 5, `rescore`: short fine-tunes of points spread along the front, through Dask and the
evaluation cache, scored on the held-out test split."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.progress import Progress

from codesign.core.candidates import Candidate, Front, Rescore
from codesign.core.pareto import pareto_mask, spread
from codesign.distributed import DaskEvaluator
from codesign.quant.evaluate import FinetuneTask
from codesign.stages.context import Context
from codesign.stages.estimators import finetune_task

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
    cands = list(front.candidates)
    uniform = [i for i, c in enumerate(cands) if c.uniform_bits is not None]
    if cfg.baselines and cfg.finetune_top > 0:  # the spread over the others, and every baseline
        others = [i for i, c in enumerate(cands) if c.uniform_bits is None]
        picks = sorted({others[j] for j in spread(len(others), cfg.finetune_top)} | set(uniform))
    else:
        picks = spread(len(front), cfg.finetune_top)
    tasks: list[FinetuneTask] = []
    rank_of: dict[str, int] = {}
    for r in picks:
        t = finetune_task(ctx, front.candidates[r].precisions, "test", keep=True)
        tasks.append(t)
        rank_of[t.key] = r
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
    n = len(cands)
    if cfg.baselines:
        cands = drop_dominated_baselines(front, cands)
    ctx.run.note(
        finetune={
            "recipe": ctx.recipe.name,
            "steps": ctx.recipe.steps,
            "requested": len(tasks),
            "from_cache": hits,
            "computed": computed,
            "failed": failed,
            # the uniform baselines fine-tuned, and those a fine-tuned point dominated
            "baselines": len(uniform) if cfg.baselines else 0,
            "baselines_dropped": n - len(cands),
            "executor": ev.describe(),
            "cache": str(cache_path),
        }
    )
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


def drop_dominated_baselines(front: Front, cands: list[Candidate]) -> list[Candidate]:
    """`cands` without the uniform baselines that another fine-tuned point dominates on
    measured accuracy and exact cost (a baseline the search's front did not hold is there to
    be measured, not to be shown when something found does better)."""
    tuned = [i for i, c in enumerate(cands) if c.finetuned_accuracy is not None]
    if not tuned or front.fp_accuracy is None:
        return cands
    F = np.array(
        [
            [front.objective_value(cands[i], o, measured=True) for o in front.objectives]
            for i in tuned
        ],
        dtype=np.float64,
    )
    keep = pareto_mask(F, np.ones(len(tuned), dtype=bool))
    dropped = {i for i, k in zip(tuned, keep) if not k and cands[i].uniform_bits is not None}
    return [c for i, c in enumerate(cands) if i not in dropped]
