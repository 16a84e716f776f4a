"""Speed-up of fine-tunes through a Dask LocalCluster with 2 worker processes over 1.

The same N fine-tunes (digits, distinct configurations, no cache) run once on a 1-worker and
once on a 2-worker LocalCluster, side by side in one run. Cluster start-up is timed apart.

Reproduce:  python benchmarks/bench_dask_speedup.py [--tasks 8] [--steps 300]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time

import torch
from distributed import Client, LocalCluster
from rich.console import Console
from rich.table import Table

from codesign.cache import eval_key, weights_hash
from codesign.data import load_dataset
from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.evaluate import FinetuneTask, state_bytes
from codesign.quant.train import FP_RECIPE, FinetuneRecipe, train_full_precision
from codesign.workload import extract, get_workload


def _tasks(n: int, steps: int) -> list[FinetuneTask]:
    w = get_workload("digits_cnn")
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = train_full_precision(w.build(), data.train, FP_RECIPE, seed=0)
    g = extract(model, w.example_input())
    base, blob = weights_hash(model), state_bytes(model)
    recipe = FinetuneRecipe(steps=steps, distill=True)
    combos = itertools.islice(itertools.product((2, 4, 8), repeat=2), n)
    out = []
    for wb, ab in combos:
        cfg = QuantConfig(
            "digits_cnn",
            tuple(
                LayerQuant(s.name, s.source, s.kind.value, ab, (wb,) * s.K) for s in g.quantizable
            ),
        )
        doc = cfg.to_dict()
        key = eval_key("digits_cnn", base, doc["layers"], {"steps": steps}, 0)
        out.append(
            FinetuneTask(
                key, base, "digits_cnn", w.input_shape, "digits", None, blob, doc, recipe, 0
            )
        )
    return out


def main() -> None:
    """Print the speed-up table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    tasks = _tasks(args.tasks, args.steps)
    rows = []
    for workers in (1, 2):
        # worker processes on both sides, so both pay the same overheads
        start, run = _time_cluster(workers, tasks)
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
    Console().print(table)
    print(
        f"reproduce: python benchmarks/bench_dask_speedup.py --tasks {args.tasks} "
        f"--steps {args.steps}"
    )


def _time_cluster(workers: int, tasks: list[FinetuneTask]) -> tuple[float, float]:
    """(start-up seconds, fine-tune seconds) on a LocalCluster of `workers` processes."""
    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
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
