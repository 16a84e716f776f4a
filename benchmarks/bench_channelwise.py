"""Channel-wise against layer-wise precision search on MPIC, at iso-accuracy (issue 12).

For each workload, granularity and seed, one `codesign explore` run on hw_models/mpic.yaml
(NSGA-II, supernet estimator, objectives accuracy loss / energy / peak memory), with every
Pareto point fine-tuned (`--finetune-top`, default 200, is more than any front here holds) and
scored on held-out test data: the supernet's estimate is not trusted to pick the points (at
channel granularity it is pessimistic by several points), and a front fine-tuned only at a
few spread points would favour the smaller layer-wise front. Among the fine-tuned points of a
run whose fine-tuned accuracy is within 0.5, 1 and 2 points of the full-precision model, the
table gives the lowest energy, the lowest weight memory and the lowest peak memory (weights +
live activations), each from its own cheapest point, and the accuracy of the lowest-energy
point; averaged over the seeds that have such a point, with the channel-wise / layer-wise
ratios.
Runs are cached in --out: a finished run is read back, not redone.

Reproduce:  python benchmarks/bench_channelwise.py [--workloads digits_cnn,mnist1d_cnn]
            [--seeds 0,1,2] [--generations 25] [--finetune-top 200]
(ResNet-8 / DS-CNN take --data PATH and --workloads resnet8 or dscnn.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import (
    add_pipeline_args,
    command,
    console,
    parse,
    pipeline_argv,
    pipeline_options,
    set_threads,
    show,
)
from rich.table import Table

from codesign.explore import explore
from codesign.run import RunDir, effective_status

THRESHOLDS = (0.5, 1.0, 2.0)


def run_one(out: Path, workload: str, granularity: str, seed: int, args) -> Path:  # noqa: ANN001
    """The run directory of (workload, granularity, seed): cached, or explored now."""
    d = out / f"{workload}-{granularity.replace(':', '')}-s{seed}"
    if (d / "pareto.json").exists() and effective_status(RunDir(d).read_info()) == "complete":
        return d
    explore(
        hw="mpic",
        workload=workload,
        granularity=granularity,
        seed=seed,
        objectives="accuracy_loss,energy,memory",
        generations=args.generations,
        pop_size=args.pop_size,
        finetune_top=args.finetune_top,
        data=args.data,
        threads=args.threads,
        out=str(d),
        resume=d if (d / "run.json").exists() else None,
        **pipeline_options(args),
    )
    return d


def cheapest(run: Path) -> dict[float, dict | None]:
    """Per threshold, over the fine-tuned points within it: the lowest energy, weight memory
    and peak memory (each its own cheapest point) and the accuracy of the lowest-energy one."""
    front = RunDir(run).load_front()
    fp = front.fp_accuracy
    out: dict[float, dict | None] = {}
    for th in THRESHOLDS:
        ok = [
            c
            for c in front.candidates
            if c.finetuned_accuracy is not None and c.finetuned_accuracy >= fp - th
        ]
        if not ok:
            out[th] = None
            continue
        by_energy = min(ok, key=lambda c: c.energy_uj)
        out[th] = {
            "energy_uj": by_energy.energy_uj,
            "weight_kb": min(c.weight_kb for c in ok),
            "peak_kb": min(c.peak_kb for c in ok),
            "acc": by_energy.finetuned_accuracy,
            "fp": fp,
        }
    return out


def main(argv: list[str] | None = None) -> None:
    """Run (or read back) every run and print the iso-accuracy table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="digits_cnn,mnist1d_cnn")
    ap.add_argument("--granularities", default="layer,channel")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--generations", type=int, default=25)
    ap.add_argument("--pop-size", type=int, default=None, help="default: explore's")
    ap.add_argument("--finetune-top", type=int, default=200)
    ap.add_argument("--data", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="results/bench_channelwise")
    add_pipeline_args(ap)
    args, _ = parse(ap, argv)
    set_threads(args.threads)
    out = Path(args.out)
    seeds = [int(s) for s in args.seeds.split(",")]
    grans = args.granularities.split(",")
    rows = {}
    for wl in args.workloads.split(","):
        for g in grans:
            rows[wl, g] = [cheapest(run_one(out, wl, g, s, args)) for s in seeds]
    (out / "summary.json").write_text(
        json.dumps({f"{w}|{g}": r for (w, g), r in rows.items()}, indent=1, default=str)
    )
    table = Table(
        title="MPIC, cheapest fine-tuned points within X pp of full precision "
        f"(mean over seeds {args.seeds}; n = seeds with such a point)"
    )
    for col in (
        "workload",
        "within pp",
        "granularity",
        "n",
        "energy uJ",
        "weights kB",
        "peak kB",
        "acc % (min energy)",
        "energy ch/layer",
        "weights ch/layer",
        "peak ch/layer",
    ):
        table.add_column(col, justify="right")
    for wl in args.workloads.split(","):
        for th in THRESHOLDS:
            means = {}
            for g in grans:
                pts = [r[th] for r in rows[wl, g] if r[th] is not None]
                if not pts:
                    table.add_row(wl, f"{th}", g, "0", "-", "-", "-", "-", "", "", "")
                    continue
                m = {k: float(np.mean([p[k] for p in pts])) for k in pts[0]}
                means[g] = m
                ratios = ["", "", ""]
                if g != grans[0] and grans[0] in means:
                    base = means[grans[0]]
                    ratios = [
                        f"{m[k] / base[k]:.2f}" for k in ("energy_uj", "weight_kb", "peak_kb")
                    ]
                table.add_row(
                    wl,
                    f"{th}",
                    g,
                    str(len(pts)),
                    f"{m['energy_uj']:.3f}",
                    f"{m['weight_kb']:.2f}",
                    f"{m['peak_kb']:.2f}",
                    f"{m['acc']:.2f}",
                    *ratios,
                )
    reproduce = [
        *("--workloads", args.workloads, "--seeds", args.seeds),
        *("--generations", str(args.generations), "--finetune-top", str(args.finetune_top)),
        *(["--pop-size", str(args.pop_size)] if args.pop_size else []),
        *pipeline_argv(args),
    ]
    show(
        console(140),
        table,
        reproduce=command("bench_channelwise.py", reproduce),
        page="channelwise",
        block=args.workloads.replace(",", "+"),
    )


if __name__ == "__main__":
    main()
