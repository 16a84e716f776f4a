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

Every run fine-tunes its final points with the same recipe (qat, 300 steps) and scores them on
the held-out test split. Each run's *measured front* is the set of its fine-tuned points; its
hypervolume (pymoo; test accuracy loss and latency, normalised over every run's points,
reference 1.1) is the figure of merit, beside evaluations (distinct candidates scored),
fine-tunes and wall time. The plot shows every run's fine-tuned points and its non-dominated
staircase. Runs are cached in --out: a finished run is read back, not redone (its wall time
with it).

Reproduce:  python benchmarks/bench_strategies.py [--seeds 0] [--k 2] [--generations 20]
            [--pop-size 32] [--gradient-generations 12] [--finetune-top 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from codesign.run import RunDir, effective_status  # noqa: E402
from codesign.search.pareto import hypervolume, pareto_mask  # noqa: E402

HW = Path(__file__).resolve().parents[1] / "hw_models" / "mpic.yaml"
WORKLOAD = "mnist1d_cnn"


def run_one(out: Path, name: str, seed: int, args, **options) -> Path:  # noqa: ANN001
    """The run directory of (name, seed): cached, or explored now (its wall time saved)."""
    from codesign.explore import explore

    d = out / f"{name}-s{seed}"
    if (d / "pareto.json").exists() and effective_status(RunDir(d).read_info()) == "complete":
        return d
    t0 = time.perf_counter()
    explore(
        hw=str(HW),
        workload=WORKLOAD,
        seed=seed,
        objectives="accuracy_loss,latency",
        pop_size=args.pop_size,
        threads=args.threads,
        out=str(d),
        resume=d if (d / "run.json").exists() else None,
        results_dir=args.results_dir,
        **{"generations": args.generations, "finetune_top": args.finetune_top, **options},
    )
    (d / "bench.json").write_text(json.dumps({"wall_s": time.perf_counter() - t0}))
    return d


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
        nd = P[pareto_mask(P, np.ones(len(P), bool))]
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--k", type=int, default=2, help="--rescore-per-gen of the in-loop run")
    ap.add_argument("--generations", type=int, default=20)
    ap.add_argument("--gradient-generations", type=int, default=12, help="dnas / csq sweeps")
    ap.add_argument("--pop-size", type=int, default=32)
    ap.add_argument("--finetune-top", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--out", default="results/bench_strategies")
    args = ap.parse_args()
    console = Console()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict[str, list[dict]] = {}
    for seed in seeds:
        runs = {
            "nsga2": run_one(out, "nsga2", seed, args),
            "random": run_one(out, "random", seed, args, strategy="random"),
            "dnas": run_one(
                out, "dnas", seed, args, strategy="dnas", generations=args.gradient_generations
            ),
            "csq": run_one(
                out, "csq", seed, args, strategy="csq", generations=args.gradient_generations
            ),
            f"nsga2 + in-loop (K={args.k})": run_one(
                out, f"nsga2-inloop-k{args.k}", seed, args, rescore_per_gen=args.k
            ),
        }
        spent = measured(runs[f"nsga2 + in-loop (K={args.k})"])["finetunes"]
        runs["nsga2, same fine-tunes"] = run_one(
            out, f"nsga2-top{spent}", seed, args, finetune_top=spent
        )
        for name, d in runs.items():
            results.setdefault(name, []).append(measured(d))
    every = np.vstack([r["points"] for rs in results.values() for r in rs if len(r["points"])])
    ideal, nadir = every.min(axis=0), every.max(axis=0)
    title = (
        f"{WORKLOAD} on MPIC, per layer, seeds {args.seeds}: nsga2/random {args.pop_size} x "
        f"{args.generations}, dnas/csq {args.gradient_generations}"
    )
    table = Table(title=title)
    for col in (
        "strategy",
        "HV (fine-tuned)",
        "evaluations",
        "fine-tunes",
        "wall s",
        "best acc %",
        "fastest within 2 pp, ms",
    ):
        table.add_column(col, justify="right")
    for name, rs in results.items():
        hv = [hypervolume(r["points"], ideal, nadir) for r in rs]
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
            f"{np.mean(best):.2f}" if best else "-",
            f"{np.mean(fast):.3f}" if fast else "-",
        )
    console.print(table)
    png = out / "strategies.png"
    if plot(results, png, title):
        console.print(f"plot: {png}")
    console.print(
        "reproduce: python benchmarks/bench_strategies.py "
        f"--seeds {args.seeds} --k {args.k} --generations {args.generations} "
        f"--pop-size {args.pop_size} --gradient-generations {args.gradient_generations} "
        f"--finetune-top {args.finetune_top}"
    )


if __name__ == "__main__":
    main()
