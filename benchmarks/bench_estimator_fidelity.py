"""How well each cheap accuracy estimator ranks configurations, against short fine-tunes.

Random per-layer (activation, weight) configurations from MPIC's bit-widths are fine-tuned (the
reference) and scored by the sensitivity proxy and by the supernet, on digits (default) or on any
workload whose data is here (--workload mnist1d_cnn: MNIST-1D, 2,000 held-out test examples;
--workload resnet8 --data CIFAR_DIR). Reports
Kendall's tau (rank agreement; target >= 0.8) and the mean absolute error in points, all on
the held-out test split. The reference is the fine-tune with seed 0; the same fine-tune with
seed 1 is scored like an estimator, which shows how much agreement the reference's own noise
allows. Fine-tunes run on a 2-worker Dask LocalCluster.

With --granularity channel (or group:G) the configurations are drawn the way the search draws
them: random genomes of the run's own per-channel space (ranked cut points, pruned channels
included; a configuration that cuts a layer to no channel is drawn again), and the supernet is
the per-channel one `explore --granularity channel` trains.

Reproduce:  python benchmarks/bench_estimator_fidelity.py [--workload W] [--configs 30]
            [--granularity layer|channel|group:G]
"""

from __future__ import annotations

import argparse
import csv
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
from scipy.stats import kendalltau

from codesign.cache import EvalCache
from codesign.config import DEFAULT_ANCHORS
from codesign.core.candidates import CandidateBatch
from codesign.data import dataset_available, how_to_get
from codesign.distributed import DaskEvaluator
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.evaluate import heldout, make_task
from codesign.quant.train import FinetuneRecipe, evaluate
from codesign.search.space import make_space
from codesign.workload import get_workload


def main(argv: list[str] | None = None) -> None:
    """Print the fidelity table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="digits_cnn")
    ap.add_argument("--data", default=None, help="dataset folder, for workloads that need one")
    ap.add_argument("--configs", type=int, default=30)
    ap.add_argument(
        "--granularity", default="layer", help="layer, channel or group:G (as explore's flag)"
    )
    ap.add_argument("--steps", type=int, default=300, help="fine-tune steps (the reference)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--anchors",
        type=int,
        default=DEFAULT_ANCHORS,
        help="fine-tuned anchors the estimators are calibrated on, as explore's flag (0: none)",
    )
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
    ap.add_argument(
        "--rows",
        default=None,
        help="also write one CSV row per configuration (its bits, the reference, each estimate)",
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
        con,
        workload=args.workload,
        hw="mpic",
        seed=args.seed,
        data=args.data,
        granularity=args.granularity,
        anchors=args.anchors,
        finetune_steps=args.steps,  # anchors fine-tuned as long as the reference
        **opts,
    ) as p:
        ctx = p.ctx
        # each as explore builds it: calibrated on `--anchors` fine-tuned anchors (0: raw)
        proxy = p.estimator("proxy", args.granularity)
        sn_est = p.estimator("supernet", args.granularity)
    anchored = args.anchors > 0
    sn_raw = sn_est.inner if anchored else sn_est
    sn, calib = sn_raw.supernet, sn_raw.calibration
    wl, data, model, layers = ctx.workload, ctx.data, ctx.model, ctx.graph.quantizable
    acts, wts = ctx.tables.act_bits, ctx.tables.weight_bits
    rng = np.random.default_rng(args.seed)
    # per configuration: activation bits per layer, weight bits per layer (one per channel)
    configs: list[tuple[list[int], list[tuple[int, ...]]]] = []
    if args.granularity == "layer":  # the draw README's per-layer table was measured with
        for _ in range(args.configs):
            ai, wi = rng.integers(0, len(acts), len(layers)), rng.integers(0, len(wts), len(layers))
            configs.append(([acts[a] for a in ai], [(wts[w],) * s.K for s, w in zip(layers, wi)]))
    else:
        space = make_space(ctx.tables, [s.K for s in layers], args.granularity, ctx.ranking)
        configs = draw_configs(space, args.configs, rng)
    base = ctx.base
    recipe = FinetuneRecipe.parse(ctx.config.recipe, args.steps)  # explore's own recipe
    ho = heldout(data, args.heldout)
    fp_ho = evaluate(model, ho)
    r = args.ref_seeds
    # seeds 0..r-1 give the reference; seeds r..2r-1 the same fine-tunes again (noise ceiling)
    tasks: list[list] = [[] for _ in range(2 * r)]
    for act, wbits in configs:
        cfg = QuantConfig(
            wl.name,
            tuple(
                LayerQuant(s.name, s.source, s.kind.value, a, w, fused=s.fused)
                for s, a, w in zip(layers, act, wbits)
            ),
        )
        for k in range(2 * r):
            tasks[k].append(
                make_task(
                    wl, base, cfg, recipe, args.seed + k, split=args.heldout, data_path=args.data
                )
            )
    # fine-tunes are cached as `codesign explore` caches them: a rerun only scores estimators
    cache = EvalCache(Path(ctx.config.results_dir) / "evals.sqlite")
    with DaskEvaluator(cache, workers=args.workers) as ev:
        res = ev.run([t for group in tasks for t in group])
    acc = np.array([[res[t.key]["accuracy"] for t in group] for group in tasks])
    ref, again = acc[:r].mean(axis=0), acc[r:].mean(axis=0)
    batch = _batch(layers, configs)

    def supernet(calibration: object) -> np.ndarray:
        return np.array(
            [sn.accuracy(a, [_one(w) for w in wb], ho, calibration) for a, wb in configs]
        )

    recal = supernet(calib)
    est = {
        "proxy (PTQ sensitivity, summed)": fp_ho - (proxy.inner if anchored else proxy).loss(batch),
        "supernet, running BN statistics": supernet(None),
        f"supernet, BN re-measured per config ({len(calib)} train inputs)": recal,
    }
    if anchored:
        # the anchors' map was fitted to losses on validation data: applied here to test losses
        est[f"proxy + {args.anchors} fine-tuned anchors"] = fp_ho - proxy.loss(batch)
        est[f"supernet, re-measured BN + {args.anchors} fine-tuned anchors"] = np.clip(
            fp_ho - sn_est.map(fp_ho - recal), 0.0, 100.0
        )
    est[f"the same fine-tunes, seeds {r}..{2 * r - 1} (noise ceiling)"] = again
    fp_test = fp_ho
    if args.rows:
        _write_rows(Path(args.rows), configs, ref, est)
    table = Table(
        title=f"{args.configs} random MPIC configurations of {wl.name}, per "
        f"{args.granularity}: estimators "
        f"vs {args.steps}-step fine-tunes, mean of {r} seed(s) (accuracy on {args.heldout}; "
        f"full precision "
        f"{fp_test:.2f}%, fine-tuned range {ref.min():.2f}-{ref.max():.2f}%)"
    )
    cols = ("estimator", "Kendall tau", "MAE (points)", "mean est. %", "mean fine-tuned %")
    for c in (*cols, "largest error (points)"):
        table.add_column(c, justify="right" if c != "estimator" else "left")
    for name, e in est.items():
        tau = kendalltau(e, ref).statistic
        table.add_row(
            name,
            f"{tau:.3f}",
            f"{np.abs(e - ref).mean():.2f}",
            f"{e.mean():.2f}",
            f"{ref.mean():.2f}",
            f"{np.abs(e - ref).max():.2f}",
        )
    table.caption = (
        f"wall time {time.perf_counter() - t0:.0f} s (fine-tunes from the cache cost nothing)"
    )
    reproduce = [
        *("--workload", wl.name, *(("--data", args.data) if args.data else ())),
        *("--configs", str(args.configs), "--steps", str(args.steps), "--seed", str(args.seed)),
        *(("--anchors", str(args.anchors)) if args.anchors != DEFAULT_ANCHORS else ()),
        *(("--granularity", args.granularity) if args.granularity != "layer" else ()),
        *("--heldout", args.heldout, "--ref-seeds", str(args.ref_seeds)),
        *(("--workers", str(args.workers)) if args.workers != 2 else ()),
        *pipeline_argv(args),
    ]
    show(
        con,
        table,
        reproduce=command("bench_estimator_fidelity.py", reproduce),
        page="estimator_fidelity",
        block=f"{wl.name}-{args.granularity}-seed{args.seed}",
    )


def _write_rows(path: Path, configs: list, ref: np.ndarray, est: dict) -> None:
    """One CSV row per configuration: activation bits and weight bits per layer (a layer's
    channels as `bits x count` runs), the fine-tuned reference and every estimate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["act_bits", "weight_bits", "finetuned", *est])
        for i, (act, wbits) in enumerate(configs):
            layers = [
                "+".join(f"{b}x{list(wb).count(b)}" for b in sorted(set(wb), reverse=True))
                for wb in wbits
            ]
            w.writerow(
                [
                    " ".join(map(str, act)),
                    " ".join(layers),
                    f"{ref[i]:.2f}",
                    *(f"{e[i]:.2f}" for e in est.values()),
                ]
            )


def _one(w: tuple[int, ...]) -> int | tuple[int, ...]:
    """A layer's weight bits as the supernet takes them: one int when every channel is alike."""
    return w[0] if len(set(w)) == 1 else w


def _batch(layers: list, configs: list) -> CandidateBatch:
    """The configurations as one `CandidateBatch` (what the proxy scores): per layer when
    every layer's channels share their bits, else one group per channel."""
    names, act = tuple(s.name for s in layers), np.array([a for a, _ in configs], dtype=np.int64)
    if all(len(set(w)) == 1 for _, wb in configs for w in wb):
        per_layer = np.array([[w[0] for w in wb] for _, wb in configs], dtype=np.int64)
        return CandidateBatch.layerwise(names, [s.K for s in layers], act, per_layer)
    weights = tuple(
        np.array([wb[i] for _, wb in configs], dtype=np.int64) for i in range(len(layers))
    )
    return CandidateBatch(names, act, weights, tuple((1,) * s.K for s in layers))


if __name__ == "__main__":
    main()
