"""Fine-tuned accuracy on digits of uniform w8a8 / w4a4 / w2a4 / w2a2 under each recipe.

Each cell is the mean held-out accuracy (percent) over the seeds, beside full precision.
Expectation (issue 5): w8a8 within 0.5 point of full precision, w4a4 within 2 points.

Reproduce:  python benchmarks/bench_finetune_recipes.py [--steps 300] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from codesign.data import load_dataset
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.train import FP_RECIPE, FinetuneRecipe, evaluate, finetune, train_full_precision
from codesign.workload import extract, get_workload

PAIRS = [(8, 8), (4, 4), (2, 4), (2, 2)]  # (weight bits, activation bits)


def main() -> None:
    """Print the recipe table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--recipes", default="qat,kd,progressive,kd+progressive,kd+stochastic")
    args = ap.parse_args()
    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    recipes = args.recipes.split(",")
    data = load_dataset("digits")
    w = get_workload("digits_cnn")
    acc = {r: {p: [] for p in PAIRS} for r in recipes}
    fp_accs = []
    t0 = time.perf_counter()
    for seed in seeds:
        torch.manual_seed(seed)
        model = train_full_precision(w.build(), data.train, FP_RECIPE, seed=seed)
        fp_accs.append(evaluate(model, data.test))
        g = extract(model, w.example_input())
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
    Console(width=140).print(table)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print(
        "reproduce: python benchmarks/bench_finetune_recipes.py "
        f"--steps {args.steps} --seeds {args.seeds}"
    )


if __name__ == "__main__":
    main()
