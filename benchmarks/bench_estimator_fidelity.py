"""How well each cheap accuracy estimator ranks configurations, against short fine-tunes.

Random per-layer (activation, weight) configurations from MPIC's bit-widths are fine-tuned (the
reference) and scored by the sensitivity proxy and by the supernet, on digits (default) or on any
workload whose data is here (--workload mnist1d_cnn: MNIST-1D, 2,000 held-out test examples;
--workload resnet8 --data CIFAR_DIR). Reports
Kendall's tau (rank agreement; target >= 0.8) and the mean absolute error in points, all on
the held-out test split. The reference is the fine-tune with seed 0; the same fine-tune with
seed 1 is scored like an estimator, which shows how much agreement the reference's own noise
allows. Fine-tunes run on a 2-worker Dask LocalCluster.

Reproduce:  python benchmarks/bench_estimator_fidelity.py [--workload W] [--configs 30]
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
from scipy.stats import kendalltau

from codesign.data import dataset_available, how_to_get
from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.evaluate import heldout, make_task
from codesign.quant.train import FinetuneRecipe, evaluate
from codesign.workload import get_workload


def main(argv: list[str] | None = None) -> None:
    """Print the fidelity table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="digits_cnn")
    ap.add_argument("--data", default=None, help="dataset folder, for workloads that need one")
    ap.add_argument("--configs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=300, help="fine-tune steps (the reference)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch threads of this process")
    ap.add_argument(
        "--heldout",
        choices=("test", "val+test"),
        default="test",
        help="held-out images that score everything; val+test doubles them (the "
        "proxy's sensitivities are measured on val, so prefer test for it)",
    )
    ap.add_argument(
        "--ref-seeds",
        type=int,
        default=1,
        help="average the reference over this many fine-tune seeds",
    )
    add_pipeline_args(ap, finetune=False)
    args, _ = parse(ap, argv)
    set_threads(args.threads)
    con = console(150)
    t0 = time.perf_counter()
    dataset = get_workload(args.workload).dataset
    if not dataset_available(dataset, args.data):
        raise SystemExit(f"workload {args.workload}: no data here ({how_to_get(dataset)})")
    # the base model (trained once, cached), the sensitivity proxy and the supernet on MPIC's
    # bit-widths, each as `codesign explore` makes it
    opts = pipeline_options(args)
    with pipeline(
        con, workload=args.workload, hw="mpic", seed=args.seed, data=args.data, **opts
    ) as p:
        ctx = p.ctx
        proxy = p.estimator("proxy")
        sn = p.estimator("supernet").supernet
    wl, data, model, layers = ctx.workload, ctx.data, ctx.model, ctx.graph.quantizable
    acts, wts = ctx.tables.act_bits, ctx.tables.weight_bits
    rng = np.random.default_rng(args.seed)
    configs = [
        (rng.integers(0, len(acts), len(layers)), rng.integers(0, len(wts), len(layers)))
        for _ in range(args.configs)
    ]
    base = ctx.base
    recipe = FinetuneRecipe(steps=args.steps)
    ho = heldout(data, args.heldout)
    fp_ho = evaluate(model, ho)
    r = args.ref_seeds
    # seeds 0..r-1 give the reference; seeds r..2r-1 the same fine-tunes again (noise ceiling)
    tasks: list[list] = [[] for _ in range(2 * r)]
    for ai, wi in configs:
        cfg = QuantConfig(
            wl.name,
            tuple(
                LayerQuant(s.name, s.source, s.kind.value, acts[a], (wts[w],) * s.K)
                for s, a, w in zip(layers, ai, wi)
            ),
        )
        for k in range(2 * r):
            tasks[k].append(
                make_task(
                    wl, base, cfg, recipe, args.seed + k, split=args.heldout, data_path=args.data
                )
            )
    with DaskEvaluator(None, workers=args.workers) as ev:
        res = ev.run([t for group in tasks for t in group])
    acc = np.array([[res[t.key]["accuracy"] for t in group] for group in tasks])
    ref, again = acc[:r].mean(axis=0), acc[r:].mean(axis=0)
    est = {
        "proxy (PTQ sensitivity, summed)": np.array(
            [fp_ho - proxy.loss_indices(ai[None], wi[None])[0] for ai, wi in configs]
        ),
        "supernet (one forward pass)": np.array(
            [sn.accuracy([acts[a] for a in ai], [wts[w] for w in wi], ho) for ai, wi in configs]
        ),
        f"the same fine-tunes, seeds {r}..{2 * r - 1} (noise ceiling)": again,
    }
    fp_test = fp_ho
    table = Table(
        title=f"{args.configs} random MPIC configurations of {wl.name}: estimators "
        f"vs {args.steps}-step fine-tunes, mean of {r} seed(s) (accuracy on {args.heldout}; "
        f"full precision "
        f"{fp_test:.2f}%, fine-tuned range {ref.min():.2f}-{ref.max():.2f}%)"
    )
    for c in ("estimator", "Kendall tau", "MAE (points)", "mean est. %", "mean fine-tuned %"):
        table.add_column(c, justify="right" if c != "estimator" else "left")
    for name, e in est.items():
        tau = kendalltau(e, ref).statistic
        table.add_row(
            name,
            f"{tau:.3f}",
            f"{np.abs(e - ref).mean():.2f}",
            f"{e.mean():.2f}",
            f"{ref.mean():.2f}",
        )
    show(con, table)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    reproduce = [
        *("--workload", wl.name, *(("--data", args.data) if args.data else ())),
        *("--configs", str(args.configs), "--steps", str(args.steps), "--seed", str(args.seed)),
        *("--heldout", args.heldout, "--ref-seeds", str(args.ref_seeds)),
        *(("--workers", str(args.workers)) if args.workers != 2 else ()),
        *pipeline_argv(args),
    ]
    show(con, reproduce=command("bench_estimator_fidelity.py", reproduce))


if __name__ == "__main__":
    main()
