"""Stage 2, `make_estimator(ctx)`: the accuracy estimator the search scores candidates with.

One registry (`ESTIMATORS`), one decorated builder per estimator; a builder takes the `Context`,
the Dask evaluator (for estimators that fine-tune) and the progress display.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rich.progress import Progress

from codesign.core.protocols import AccuracyEstimator
from codesign.core.registry import Registry
from codesign.core.types import Precision
from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.estimators import FinetuneEstimator, SupernetEstimator
from codesign.quant.evaluate import FinetuneTask, make_task
from codesign.quant.proxy import measure_sensitivity
from codesign.quant.supernet import SupernetSchedule, load_or_train_supernet
from codesign.quant.train import evaluate

if TYPE_CHECKING:  # the stages' context; prepare imports this module, never the reverse
    from codesign.stages.prepare import Context

Builder = Callable[["Context", DaskEvaluator, Progress], AccuracyEstimator]
ESTIMATORS: Registry[Builder] = Registry("estimator")


def quant_config(ctx: Context, precisions: Sequence[Precision]) -> QuantConfig:
    """The `QuantConfig` of one candidate (a `Precision` per quantizable layer, in order)."""
    layers = []
    for spec, p in zip(ctx.graph.quantizable, precisions):
        layers.append(
            LayerQuant(spec.name, spec.source, spec.kind.value, p.act_bits, p.weight_bits)
        )
    return QuantConfig(ctx.workload.name, tuple(layers))


def finetune_task(ctx: Context, precisions: Sequence[Precision], split: str) -> FinetuneTask:
    """A fine-tune task for one candidate, scored on `split` ('val' or 'test')."""
    return make_task(
        ctx.workload,
        ctx.base,
        quant_config(ctx, precisions),
        ctx.recipe,
        ctx.config.seed,
        split,
        ctx.config.data,
    )


@ESTIMATORS.register("proxy")
def _proxy(ctx: Context, ev: DaskEvaluator, prog: Progress) -> AccuracyEstimator:
    """Per-layer post-training sensitivity, summed; written to sensitivity.json."""
    t = ctx.tables
    n = t.num_layers * (len(t.weight_bits) + len(t.act_bits))
    task = prog.add_task("layer sensitivity", total=n)
    proxy = measure_sensitivity(
        ctx.model,
        ctx.graph.quantizable,
        t.act_bits,
        t.weight_bits,
        ctx.data.train,
        ctx.data.val,
        ctx.workload.name,
        progress=lambda: prog.advance(task),
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
        },
    )
    return proxy


@ESTIMATORS.register("supernet")
def _supernet(ctx: Context, ev: DaskEvaluator, prog: Progress) -> AccuracyEstimator:
    """The switchable-precision supernet (trained once per workload, hardware, weights,
    schedule and seed, and cached); one forward pass per distinct candidate."""
    t = ctx.tables
    schedule = SupernetSchedule(steps=ctx.config.supernet_steps)
    sn, path, cached = load_or_train_supernet(
        ctx.model,
        ctx.graph,
        ctx.workload.name,
        ctx.hardware.name,
        t.act_bits,
        t.weight_bits,
        ctx.data.train,
        ctx.cache_dir,
        ctx.base[0],
        schedule,
        ctx.config.seed,
        prog,
    )
    ctx.info["supernet"] = {"path": str(path), "cached": cached, "steps": schedule.steps}
    ctx.console.print(
        f"supernet: {'loaded from' if cached else 'trained and cached in'} [dim]{path}[/]"
    )
    return SupernetEstimator(sn, ctx.data.val, evaluate(ctx.model, ctx.data.val))


@ESTIMATORS.register("finetune")
def _finetune(ctx: Context, ev: DaskEvaluator, prog: Progress) -> AccuracyEstimator:
    """A short fine-tune of every distinct candidate (scored on the validation split)."""
    graph = ctx.graph

    def run_batch(configs: list[tuple[list[int], list[int]]]) -> list[float]:
        tasks = [
            finetune_task(
                ctx,
                [Precision.uniform(a, w, s.K) for s, a, w in zip(graph.quantizable, act, wts)],
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
    ctx.info["estimator"] = ctx.config.estimator
    return ESTIMATORS.get(ctx.config.estimator, "--estimator")(ctx, ev, prog)
