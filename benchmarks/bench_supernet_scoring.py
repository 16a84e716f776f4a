"""How many candidates per second the supernet estimator scores, on one core.

The estimator is the one `codesign explore` builds (its supernet trained or read from the
cache, per layer): each score is one forward pass over the validation split at a random
per-layer configuration of MPIC's bit-widths, after re-measuring that configuration's
batch-norm statistics on 256 training inputs (`SupernetEstimator`'s default; issue 24). The
same configurations scored with the running statistics show what the re-measurement costs,
and the full-precision model gives the scale. Candidates go through `loss(batch)` as the search
sends them: one batch per generation.

Reproduce:  python benchmarks/bench_supernet_scoring.py [--configs 200]
            [--workloads mnist1d_cnn,digits_cnn]
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

from codesign.core.candidates import CandidateBatch
from codesign.quant.estimators import SupernetEstimator
from codesign.quant.train import evaluate


def rates(workload: str, n: int, args: argparse.Namespace) -> tuple[int, float, float, float]:
    """(validation examples, candidates / s recalibrated, with running statistics, full
    precision) for `workload`."""
    with pipeline(
        console(120), workload=workload, hw="mpic", anchors=0, **pipeline_options(args)
    ) as p:
        ctx = p.ctx
        est = p.estimator("supernet", "layer")
    t, layers = ctx.tables, ctx.graph.quantizable
    rng = np.random.default_rng(0)
    act = rng.choice(t.act_bits, (n, len(layers)))
    wts = rng.choice([b for b in t.weight_bits if b > 0], (n, len(layers)))
    batch = CandidateBatch.layerwise(t.layer_names, [s.K for s in layers], act, wts)
    out = []
    for calibration in (est.calibration, None):
        fresh = SupernetEstimator(est.supernet, est.data, est.fp_accuracy, calibration)
        fresh.loss(batch.take(np.arange(1)))  # step sizes initialised outside the timing
        t0 = time.perf_counter()
        fresh.loss(batch.take(np.arange(1, n)))
        out.append((n - 1) / (time.perf_counter() - t0))
    t0 = time.perf_counter()
    for _ in range(10):
        evaluate(ctx.model, est.data)
    return len(est.data), out[0], out[1], 10 / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    """Print the scoring-rate table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=200)
    ap.add_argument("--workloads", default="mnist1d_cnn,digits_cnn")
    add_pipeline_args(ap, finetune=False)
    args, _ = parse(ap, argv)
    set_threads(1)  # one core
    table = Table(title="supernet estimator, one core, random per-layer MPIC configurations")
    cols = ("workload", "validation examples", "candidates / s", "running BN stats / s")
    for c in (*cols, "full precision / s"):
        table.add_column(c, justify="right")
    for wl in args.workloads.split(","):
        n_val, recal, running, fp = rates(wl, args.configs, args)
        table.add_row(wl, f"{n_val:,}", f"{recal:,.1f}", f"{running:,.1f}", f"{fp:,.1f}")
    reproduce = ["--configs", str(args.configs), "--workloads", args.workloads]
    show(
        console(None),
        table,
        reproduce=command("bench_supernet_scoring.py", [*reproduce, *pipeline_argv(args)]),
        page="supernet_scoring",
    )


if __name__ == "__main__":
    main()
