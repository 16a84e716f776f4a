"""Speed-up of fine-tunes through a Dask LocalCluster with 2 worker processes over 1.

The same N fine-tunes (digits, distinct configurations, no cache) run once on a 1-worker and
once on a 2-worker LocalCluster, side by side in one run. Cluster start-up is timed apart.

Reproduce:  python benchmarks/bench_dask_speedup.py [--tasks 8] [--steps 300]
            [--workers 1,2] [--threads-only] (a quick check: workers as threads)
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time

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
from distributed import Client, LocalCluster
from rich.table import Table

from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.evaluate import FinetuneTask, make_task
from codesign.quant.train import FinetuneRecipe


def _tasks(n: int, steps: int, options: dict) -> list[FinetuneTask]:
    """`n` fine-tunes of distinct uniform configurations of digits_cnn (its base model from
    codesign's prepare stage: trained once, cached)."""
    with pipeline(console(), workload="digits_cnn", hw="mpic", seed=0, **options) as p:
        ctx = p.ctx
    recipe = FinetuneRecipe(steps=steps, distill=True)
    combos = itertools.islice(itertools.product((2, 4, 8), repeat=2), n)
    out = []
    for wb, ab in combos:
        cfg = QuantConfig(
            "digits_cnn",
            tuple(
                LayerQuant(s.name, s.source, s.kind.value, ab, (wb,) * s.K)
                for s in ctx.graph.quantizable
            ),
        )
        out.append(make_task(ctx.workload, ctx.base, cfg, recipe, 0))
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the speed-up table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument(
        "--workers", default="1,2", help="worker processes of each cluster; the first is the base"
    )
    ap.add_argument(
        "--threads-only",
        action="store_true",
        help="workers as threads of this process (a quick check of the benchmark: no process "
        "start-up, so its times say nothing about the speed-up)",
    )
    add_pipeline_args(ap, supernet=False, finetune=False)
    args, _ = parse(ap, argv)
    set_threads(1)
    tasks = _tasks(args.tasks, args.steps, pipeline_options(args))
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        # worker processes on both sides, so both pay the same overheads
        start, run = _time_cluster(workers, tasks, not args.threads_only)
        rows.append((workers, start, run))
    table = Table(
        title=f"{args.tasks} digits fine-tunes ({args.steps} steps, kd) on a Dask LocalCluster"
    )
    for c in ("worker processes", "cluster start s", "fine-tunes s", "fine-tunes / s", "speed-up"):
        table.add_column(c, justify="right")
    base = rows[0][2]
    for workers, start, run in rows:
        table.add_row(
            str(workers),
            f"{start:.1f}",
            f"{run:.1f}",
            f"{args.tasks / run:.2f}",
            f"{base / run:.2f}x",
        )
    reproduce = ["--tasks", str(args.tasks), "--steps", str(args.steps)]
    if args.workers != "1,2":
        reproduce += ["--workers", args.workers]
    if args.threads_only:
        reproduce += ["--threads-only"]
    reproduce += pipeline_argv(args)
    show(
        console(None),
        table,
        reproduce=command("bench_dask_speedup.py", reproduce),
        page="dask_speedup",
    )


def _time_cluster(
    workers: int, tasks: list[FinetuneTask], processes: bool = True
) -> tuple[float, float]:
    """(start-up seconds, fine-tune seconds) on a LocalCluster of `workers` processes (of
    `workers` threads of this one when not `processes`)."""
    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    client.wait_for_workers(workers)
    client.run(lambda: __import__("codesign.quant.evaluate"))
    start = time.perf_counter() - t0
    ev = DaskEvaluator(None, workers=workers)
    ev.client = client
    t1 = time.perf_counter()
    res = ev.run(tasks)
    run = time.perf_counter() - t1
    client.close()
    cluster.close()
    assert all(r["status"] == "ok" for r in res.values()), res
    return start, run


if __name__ == "__main__":
    main()
