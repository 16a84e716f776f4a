"""Fine-tuned accuracy on digits of uniform w8a8 / w4a4 / w2a4 / w2a2 under each recipe.

Each cell is the mean held-out accuracy (percent) over the seeds, beside full precision.
Expectation (issue 5): w8a8 within 0.5 point of full precision, w4a4 within 2 points.

Reproduce:  python benchmarks/bench_finetune_recipes.py [--steps 300] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import (
    add_pipeline_args,
    command,
    console,
    parse,
    pipeline,
    pipeline_argv,
    pipeline_options,
    set_threads,
    show,
)
from rich.table import Table

from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.train import FinetuneRecipe, finetune

PAIRS = [(8, 8), (4, 4), (2, 4), (2, 2)]  # (weight bits, activation bits)
DEFAULT_RECIPES = "qat,kd,progressive,kd+progressive,kd+stochastic"


def main(argv: list[str] | None = None) -> None:
    """Print the recipe table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--recipes", default=DEFAULT_RECIPES)
    add_pipeline_args(ap, supernet=False, finetune=False)
    args, _ = parse(ap, argv)
    set_threads(1)
    con = console(140)
    seeds = [int(s) for s in args.seeds.split(",")]
    recipes = args.recipes.split(",")
    acc = {r: {p: [] for p in PAIRS} for r in recipes}
    fp_accs = []
    t0 = time.perf_counter()
    for seed in seeds:
        # the base model of seed `seed` (trained once, cached), its graph and digits' splits
        opts = pipeline_options(args)
        with pipeline(con, workload="digits_cnn", hw="mpic", seed=seed, **opts) as p:
            model, g, data = p.ctx.model, p.ctx.graph, p.ctx.data
            fp_accs.append(p.ctx.fp_accuracy)
        for wb, ab in PAIRS:
            cfg = QuantConfig(
                "digits_cnn",
                tuple(
                    LayerQuant(s.name, s.source, s.kind.value, ab, (wb,) * s.K)
                    for s in g.quantizable
                ),
            )
            for r in recipes:
                res = finetune(
                    model,
                    cfg,
                    data.train,
                    data.test,
                    FinetuneRecipe.parse(r, args.steps),
                    seed=seed,
                )
                acc[r][(wb, ab)].append(res.accuracy)
    fp = float(np.mean(fp_accs))
    table = Table(
        title=f"digits_cnn fine-tuned held-out accuracy (%), {args.steps} steps, "
        f"mean of seeds {seeds}; full precision {fp:.2f}"
    )
    table.add_column("recipe")
    for wb, ab in PAIRS:
        table.add_column(f"w{wb}a{ab}", justify="right")
    for r in recipes:
        table.add_row(
            r, *[f"{np.mean(acc[r][p]):.2f} ({np.mean(acc[r][p]) - fp:+.2f})" for p in PAIRS]
        )
    show(con, table)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    reproduce = ["--steps", str(args.steps), "--seeds", args.seeds, *pipeline_argv(args)]
    if args.recipes != DEFAULT_RECIPES:
        reproduce += ["--recipes", args.recipes]
    show(con, reproduce=command("bench_finetune_recipes.py", reproduce))


if __name__ == "__main__":
    main()
