"""Every search strategy on one instance, judged on fine-tuned accuracy; and what fine-tunes
inside the search cost and gain (issue 13).

One `codesign explore` run per strategy and seed on mnist1d_cnn (MNIST-1D, generated locally;
its accuracies spread, unlike digits) on hw_models/mpic.yaml, per layer, objectives accuracy
loss and latency, supernet estimator:

- nsga2, random: --pop-size x --generations candidates;
- dnas: --gradient-generations cost weights of its sweep (`codesign.search.dnas`);
- csq: --gradient-generations budgets of its sweep (`codesign.search.csq`);
- nsga2 + in-loop: nsga2 with `--rescore-per-gen K` (fine-tunes inside the search, an isotonic
  calibration of the supernet, a front of measured points only);
- nsga2, same fine-tunes: the plain nsga2 search (same seed: the same archive) with as many
  fine-tunes spread along its final estimated front as the in-loop run spent in all.

Every run fine-tunes its final points with the same recipe (explore's default, 300 steps) and
scores them on the held-out test split. Each run's *measured front* is the set of its fine-
tuned points; its hypervolume (pymoo; test accuracy loss and latency, normalised over every
run's points, reference 1.1) is the figure of merit, beside evaluations (distinct candidates
scored), fine-tunes and wall time. The plot shows every run's fine-tuned points and its non-
dominated staircase. Runs are cached in --out: a finished run is read back, not redone (its
wall time with it).

Reproduce:  python benchmarks/bench_strategies.py [--seeds 0] [--k 2] [--generations 20]
            [--pop-size 32] [--gradient-generations 12] [--finetune-top 8]
            [--workload mnist1d_cnn] [--strategies nsga2,random,dnas,csq,inloop]
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
from _common import (
    add_pipeline_args,
    command,
    console,
    front_of,
    hypervolumes,
    parse,
    pipeline_argv,
    pipeline_options,
    set_threads,
    show,
)
from rich.table import Table

from codesign.explore import explore
from codesign.run import RunDir, effective_status

STRATEGIES = "nsga2,random,dnas,csq,inloop"


def run_one(out: Path, name: str, seed: int, args, **options) -> Path:  # noqa: ANN001
    """The run directory of (name, seed): cached, or explored now (its wall time saved)."""
    d = out / f"{args.workload}-{args.granularity}-{name}-s{seed}"
    if (d / "pareto.json").exists() and effective_status(RunDir(d).read_info()) == "complete":
        return d
    t0, cpu0 = time.perf_counter(), _cpu_s()
    explore(
        hw="mpic",
        workload=args.workload,
        seed=seed,
        objectives="accuracy_loss,latency",
        pop_size=args.pop_size,
        threads=args.threads,
        granularity=args.granularity,
        out=str(d),
        resume=d if (d / "run.json").exists() else None,
        **pipeline_options(args),
        **{"generations": args.generations, "finetune_top": args.finetune_top, **options},
    )
    wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
    (d / "bench.json").write_text(json.dumps({"wall_s": wall, "cpu_s": cpu}))
    return d


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and of its children that have ended (the
    fine-tunes' Dask workers, when a run starts any)."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def strategy_runs(name: str, out: Path, seed: int, args) -> dict[str, Path]:  # noqa: ANN001
    """The run directories of one --strategies name, by table row; "inloop" is nsga2 with
    fine-tunes inside the search and plain nsga2 with as many fine-tunes spread along its final
    front."""
    if name in ("nsga2", "random"):
        return {name: run_one(out, name, seed, args, strategy=name)}
    if name in ("dnas", "csq"):
        return {
            name: run_one(
                out, name, seed, args, strategy=name, generations=args.gradient_generations
            )
        }
    if name != "inloop":
        raise SystemExit(f"--strategies: unknown {name!r}; known: {STRATEGIES}")
    name = f"nsga2 + in-loop (K={args.k})"
    runs = {name: run_one(out, f"nsga2-inloop-k{args.k}", seed, args, rescore_per_gen=args.k)}
    spent = measured(runs[name])["finetunes"]
    runs["nsga2, same fine-tunes"] = run_one(
        out, f"nsga2-top{spent}", seed, args, finetune_top=spent
    )
    return runs


def measured(d: Path) -> dict:
    """A run's fine-tuned points (test loss pp, latency ms), fine-tunes, evaluations, time."""
    rd = RunDir(d)
    front = rd.load_front()
    info = rd.read_info()
    fp = front.fp_accuracy
    tuned = [c for c in front.candidates if c.finetuned_accuracy is not None]
    pts = np.array([[fp - c.finetuned_accuracy, c.latency_ms] for c in tuned])
    if "inloop" in info:
        tunes = info["inloop"]["measured"]
    else:
        tunes = info.get("finetune", {}).get("requested", 0)
    bench = json.loads((d / "bench.json").read_text()) if (d / "bench.json").exists() else {}
    return {
        "points": pts.reshape(-1, 2),
        "fp": fp,
        "evaluated": front.evaluated,
        "finetunes": tunes,
        "wall_s": bench.get("wall_s", float("nan")),
        "cpu_s": bench.get("cpu_s", float("nan")),
    }


def plot(results: dict[str, list[dict]], path: Path, title: str) -> bool:
    """Fine-tuned accuracy against latency, one colour per run (first seed); False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    markers = "osD^vP*X"
    # Okabe-Ito: readable for colour-blind readers
    colours = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"]
    for i, (name, runs) in enumerate(results.items()):
        r = runs[0]
        P = r["points"]
        if not len(P):
            continue
        acc = r["fp"] - P[:, 0]
        c, m = colours[i % len(colours)], markers[i % len(markers)]
        ax.scatter(P[:, 1], acc, color=c, marker=m, s=22, alpha=0.75, label=name)
        nd = front_of(P)
        nd = nd[np.argsort(nd[:, 1])]
        ax.step(nd[:, 1], r["fp"] - nd[:, 0], where="post", color=c, lw=1.0, alpha=0.9)
    ax.axhline(results[next(iter(results))][0]["fp"], color="grey", ls=":", lw=1)
    ax.set_xlabel("latency on MPIC (ms)")
    ax.set_ylabel("fine-tuned test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> None:
    """Run (or read back) every strategy's runs; print the table and draw the plot."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workload", default="mnist1d_cnn")
    ap.add_argument("--seeds", default="0")
    ap.add_argument(
        "--granularity", default="layer", help="layer, channel or group:G (as explore's flag)"
    )
    ap.add_argument("--k", type=int, default=2, help="--rescore-per-gen of the in-loop run")
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--gradient-generations", type=int, default=12, help="dnas / csq sweeps")
    ap.add_argument("--pop-size", type=int, default=32)
    ap.add_argument("--finetune-top", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--strategies",
        default=STRATEGIES,
        help="which runs: nsga2, random, dnas, csq, inloop (in-loop and its same-fine-tunes twin)",
    )
    add_pipeline_args(ap)
    ap.add_argument("--out", default="results/bench_strategies")
    args, _ = parse(ap, argv)
    set_threads(args.threads)
    con = console(None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {}
    for seed in seeds:
        runs: dict[str, Path] = {}
        for name in args.strategies.split(","):
            runs.update(strategy_runs(name, out, seed, args))
        for name, d in runs.items():
            results.setdefault(name, []).append(measured(d))
    every = np.vstack([r["points"] for rs in results.values() for r in rs if len(r["points"])])
    title = (
        f"{args.workload} on MPIC, {_per(args.granularity)}, seeds {args.seeds}: "
        f"nsga2/random {args.pop_size} x {args.generations}, dnas/csq {args.gradient_generations}"
    )
    table = Table(title=title)
    for col in (
        "strategy",
        "HV (fine-tuned)",
        "evaluations",
        "fine-tunes",
        "wall s",
        "CPU s",
        "best acc %",
        "fastest within 2 pp, ms",
    ):
        table.add_column(col, justify="right")
    for name, rs in results.items():
        hv = hypervolumes([r["points"] for r in rs], over=every)
        best = [r["fp"] - r["points"][:, 0].min() for r in rs if len(r["points"])]
        fast = [
            r["points"][r["points"][:, 0] <= 2.0, 1].min()
            for r in rs
            if (r["points"][:, 0] <= 2.0).any()
        ]
        table.add_row(
            name,
            f"{np.mean(hv):.4f}" + (f" ({min(hv):.3f}-{max(hv):.3f})" if len(hv) > 1 else ""),
            f"{np.mean([r['evaluated'] for r in rs]):.0f}",
            f"{np.mean([r['finetunes'] for r in rs]):.0f}",
            f"{np.nanmean([r['wall_s'] for r in rs]):.0f}",
            f"{np.nanmean([r['cpu_s'] for r in rs]):.0f}",
            f"{np.mean(best):.2f}" if best else "-",
            f"{np.mean(fast):.3f}" if fast else "-",
        )
    # the per-layer MNIST-1D table is the page's first block; other instances get their own
    block = None
    if (args.workload, args.granularity) != ("mnist1d_cnn", "layer"):
        block = f"{args.workload}-{args.granularity}"
    show(con, table, page="strategies", block=block)
    png = out / "strategies.png"
    if plot(results, png, title):
        con.print(f"plot: {png}")
    reproduce = [
        *(["--workload", args.workload] if args.workload != "mnist1d_cnn" else []),
        *(["--granularity", args.granularity] if args.granularity != "layer" else []),
        *(["--strategies", args.strategies] if args.strategies != STRATEGIES else []),
        *("--seeds", args.seeds, "--k", str(args.k), "--generations", str(args.generations)),
        *("--pop-size", str(args.pop_size)),
        *("--gradient-generations", str(args.gradient_generations)),
        *("--finetune-top", str(args.finetune_top)),
        *pipeline_argv(args),
    ]
    show(con, reproduce=command("bench_strategies.py", reproduce), page="strategies", block=block)


def _per(granularity: str) -> str:
    return {"layer": "per layer", "channel": "per channel"}.get(granularity, granularity)


if __name__ == "__main__":
    main()
