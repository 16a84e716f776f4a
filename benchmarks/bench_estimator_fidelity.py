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
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy.stats import kendalltau

from codesign.cache import weights_hash
from codesign.data import dataset_available, how_to_get, load_dataset
from codesign.distributed import DaskEvaluator
from codesign.hw import load_hardware
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.evaluate import heldout, make_task, state_bytes
from codesign.quant.proxy import measure_sensitivity
from codesign.quant.supernet import Supernet, SupernetSchedule, train_supernet
from codesign.quant.train import FP_RECIPE, FinetuneRecipe, evaluate, train_full_precision
from codesign.workload import extract, get_workload

HW = Path(__file__).resolve().parents[1] / "hw_models" / "mpic.yaml"


def main() -> None:
    """Print the fidelity table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="digits_cnn")
    ap.add_argument("--data", default=None, help="dataset folder, for workloads that need one")
    ap.add_argument("--configs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=300, help="fine-tune steps (the reference)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
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
    args = ap.parse_args()
    t0 = time.perf_counter()
    hw = load_hardware(HW)
    acts = hw.act_bits
    wts = tuple(b for b in hw.weight_bits if b > 0)
    wl = get_workload(args.workload)
    if not dataset_available(wl.dataset, args.data):
        raise SystemExit(f"workload {wl.name}: no data here ({how_to_get(wl.dataset)})")
    data = load_dataset(wl.dataset, path=args.data)
    torch.manual_seed(args.seed)
    model = train_full_precision(wl.build(), data.train, FP_RECIPE, seed=args.seed)
    g = extract(model, wl.example_input())
    layers = g.quantizable
    proxy = measure_sensitivity(model, layers, acts, wts, data.train, data.val)
    sn = train_supernet(
        Supernet(model, g, acts, wts), data.train, SupernetSchedule(), seed=args.seed
    )
    rng = np.random.default_rng(args.seed)
    configs = [
        (rng.integers(0, len(acts), len(layers)), rng.integers(0, len(wts), len(layers)))
        for _ in range(args.configs)
    ]
    base = (weights_hash(model), state_bytes(model))
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
            [fp_ho - proxy.loss(ai[None], wi[None])[0] for ai, wi in configs]
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
    Console(width=150).print(table)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print(
        f"reproduce: python benchmarks/bench_estimator_fidelity.py --workload {wl.name} "
        + (f"--data {args.data} " if args.data else "")
        + f"--configs {args.configs} "
        f"--steps {args.steps} --seed {args.seed} --heldout {args.heldout} "
        f"--ref-seeds {args.ref_seeds}"
    )


if __name__ == "__main__":
    main()
