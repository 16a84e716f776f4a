"""Fine-tuned accuracy of low-bit configurations under each fine-tune recipe, beside full precision.

The configurations: uniform w8a8 / w4a4 / w2a4 / w2a2, and `--channel-points` low-bit
per-channel configurations drawn from the run's own per-channel space as the search draws them
(ranked cuts, pruned channels; mean weight bits <= 3, no layer cut to nothing). Each cell is the
mean held-out accuracy (percent) over the seeds, with its spread (max - min); one table per step
count. "low-bit mean" averages the w2a4, w2a2 and channel columns: the recipe with the highest
one, at the explore default's 300 steps, is the one to make the default.

Fine-tunes go through the evaluation cache `codesign explore` uses (``<results>/evals.sqlite``),
so a rerun (or a run with one more recipe) fine-tunes only what is new.

Reproduce:  python benchmarks/bench_finetune_recipes.py [--workload mnist1d_cnn]
            [--steps 300,1000] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import (
    add_pipeline_args,
    command,
    console,
    draw_configs,
    parse,
    pipeline,
    pipeline_argv,
    pipeline_options,
    set_threads,
    show,
)
from rich.table import Table

from codesign.cache import EvalCache
from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.evaluate import make_task
from codesign.quant.train import FinetuneRecipe
from codesign.search.space import make_space

PAIRS = [(8, 8), (4, 4), (2, 4), (2, 2)]  # (weight bits, activation bits)
DEFAULT_RECIPES = "qat,kd,progressive,kd+progressive,kd+stochastic"
LOW_BIT_MEAN = 3.0  # a channel point's mean weight bits (pruned channels count 0) at most


def channel_points(ctx, n: int, seed: int) -> list[tuple[list[int], list[tuple[int, ...]]]]:
    """`n` low-bit per-channel configurations of `ctx`'s space: (activation bits per layer,
    weight bits per channel of each layer), drawn with `seed` as the search draws genomes."""
    layers = ctx.graph.quantizable
    space = make_space(ctx.tables, [s.K for s in layers], "channel", ctx.ranking)

    def low_bit(wbits: list[tuple[int, ...]]) -> bool:
        return float(np.mean(np.concatenate([np.asarray(w) for w in wbits]))) <= LOW_BIT_MEAN

    return draw_configs(space, n, np.random.default_rng(seed), keep=low_bit)


def main(argv: list[str] | None = None) -> None:
    """Print the recipe tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="mnist1d_cnn")
    ap.add_argument("--steps", default="300,1000", help="step counts, comma-separated")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--recipes", default=DEFAULT_RECIPES)
    ap.add_argument("--channel-points", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    add_pipeline_args(ap, supernet=False, finetune=False)
    args, _ = parse(ap, argv)
    set_threads(1)
    con = console(160)
    seeds = [int(s) for s in args.seeds.split(",")]
    steps = [int(s) for s in args.steps.split(",")]
    recipes = args.recipes.split(",")
    names = [f"w{w}a{a}" for w, a in PAIRS] + [f"ch{i + 1}" for i in range(args.channel_points)]
    t0 = time.perf_counter()
    fp_accs, tasks = [], []  # tasks: (seed, steps, recipe, config name, task)
    results_dir = None
    for seed in seeds:
        # the base model of seed `seed` (trained once, cached), its graph and data
        opts = pipeline_options(args)
        with pipeline(
            con, workload=args.workload, hw="mpic", seed=seed, granularity="channel", **opts
        ) as p:
            ctx = p.ctx
            fp_accs.append(ctx.fp_accuracy)
        results_dir = Path(ctx.config.results_dir)
        layers = ctx.graph.quantizable
        configs = [([a] * len(layers), [(w,) * s.K for s in layers]) for w, a in PAIRS]
        configs += channel_points(ctx, args.channel_points, seed)
        for name, (act, wbits) in zip(names, configs):
            cfg = QuantConfig(
                ctx.workload.name,
                tuple(
                    LayerQuant(s.name, s.source, s.kind.value, a, w, fused=s.fused)
                    for s, a, w in zip(layers, act, wbits)
                ),
            )
            for n in steps:
                for r in recipes:
                    recipe = FinetuneRecipe.parse(r, n)
                    task = make_task(ctx.workload, ctx.base, cfg, recipe, seed)
                    tasks.append((seed, n, r, name, task))
    cache = EvalCache(results_dir / "evals.sqlite")
    with DaskEvaluator(cache, workers=args.workers) as ev:
        res = ev.run([t for *_, t in tasks])
    acc: dict[tuple[int, str, str], list[float]] = {}
    for _seed, n, r, name, t in tasks:
        acc.setdefault((n, r, name), []).append(float(res[t.key]["accuracy"]))
    fp = float(np.mean(fp_accs))
    low = [n for n in names if n in ("w2a4", "w2a2") or n.startswith("ch")]
    tables = []
    best = None
    for n in steps:
        table = Table(
            title=f"{args.workload} fine-tuned held-out accuracy (%), {n} steps, mean (spread) "
            f"of seeds {seeds}; full precision {fp:.2f}"
        )
        table.add_column("recipe")
        for name in names:
            table.add_column(name, justify="right")
        table.add_column("low-bit mean", justify="right")
        for r in recipes:
            cells = []
            for name in names:
                a = np.asarray(acc[(n, r, name)])
                cells.append(f"{a.mean():.2f} ({a.max() - a.min():.1f})")
            lowbit = float(np.mean([np.mean(acc[(n, r, name)]) for name in low]))
            if n == steps[0] and (best is None or lowbit > best[1]):
                best = (r, lowbit)
            table.add_row(r, *cells, f"{lowbit:.2f}")
        tables.append(table)
    caption = (
        f"best low-bit mean at {steps[0]} steps: {best[0]} ({best[1]:.2f} %); "
        f"wall time {time.perf_counter() - t0:.0f} s"
    )
    tables[-1].caption = caption
    reproduce = ["--workload", args.workload, "--steps", args.steps, "--seeds", args.seeds]
    reproduce += ["--channel-points", str(args.channel_points), *pipeline_argv(args)]
    if args.recipes != DEFAULT_RECIPES:
        reproduce += ["--recipes", args.recipes]
    show(
        con,
        *tables,
        reproduce=command("bench_finetune_recipes.py", reproduce),
        page="finetune_recipes",
        block=args.workload,
    )


if __name__ == "__main__":
    main()
