"""Which per-channel genome should NSGA-II search? Hypervolume at equal evaluations (issue 12).

Per-channel bits need a genome that does not grow with the channels. `--granularity channel`
(`ChannelCountSpace`: per layer, sorted cut points along a fixed importance ranking, so a
handful of genes per layer) is compared with one gene per group of G channels
(`GroupSpace`, group:1 = a gene per channel, as a plain per-channel GA would do), and with the
layer-wise space for reference. Everything else is equal: NSGA-II, population, generations,
seeds, and one objective function per workload, so the figure measures the genome, not the
estimator: MPIC energy and peak memory from the cost tables, and the accuracy loss from
`--estimator` proxy (the per-layer sensitivity proxy with pruning drops; it sees only how many
channels a layer prunes, not which) or supernet (a switchable supernet trained on random
per-channel configurations, each channel's bits drawn independently, so it favours no genome
and does see which channels are pruned). Each front's hypervolume (pymoo) is
normalised over every front of its workload; the table gives the mean and spread over seeds.

Reproduce:  python benchmarks/bench_channel_genomes.py [--workloads digits_cnn,mnist1d_cnn]
            [--spaces channel,group:1,group:4,layer] [--seeds 0,1,2] [--generations 40]
            [--estimator proxy|supernet]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import (
    add_pipeline_args,
    archive_front,
    command,
    console,
    hypervolumes,
    parse,
    pipeline,
    pipeline_options,
    set_threads,
    show,
)
from rich.table import Table

from codesign.core.types import Objective
from codesign.search.archive import Archive
from codesign.search.loop import run_search, scorer
from codesign.search.nsga2 import NSGA2Strategy
from codesign.search.space import make_space

OBJECTIVES = (Objective.ACCURACY_LOSS, Objective.ENERGY, Objective.MEMORY)


def prepared(wl_name: str, args, con):  # noqa: ANN001, ANN201
    """(context, estimator) of a workload on MPIC: codesign's prepare stage at channel
    granularity (base model trained once and cached, the channel ranking) and its estimator
    stage. The supernet is the one `--granularity group:1` trains: on per-channel
    configurations drawn gene by gene from the one-gene-per-channel space, so it favours no
    genome."""
    with pipeline(
        con, workload=wl_name, hw="mpic", granularity="channel", seed=0, **pipeline_options(args)
    ) as p:
        if args.estimator == "proxy":
            return p.ctx, p.estimator("proxy")
        return p.ctx, p.estimator("supernet", granularity="group:1")


def main(argv: list[str] | None = None) -> None:
    """Search every (workload, space, seed) and print the hypervolume table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="digits_cnn,mnist1d_cnn")
    ap.add_argument("--spaces", default="channel,group:1,group:4,layer")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--pop-size", type=int, default=64)
    ap.add_argument("--generations", type=int, default=40)
    add_pipeline_args(ap)
    ap.add_argument("--estimator", choices=("proxy", "supernet"), default="proxy")
    args, argv = parse(ap, argv)
    set_threads(1)
    con = console(140)
    table = Table(
        title=f"NSGA-II per genome on MPIC, {args.pop_size} x {args.generations} evaluations, "
        f"seeds {args.seeds}: hypervolume (accuracy loss by {args.estimator}, energy, peak "
        "memory)"
    )
    for col in ("workload", "genome", "genes", "HV mean", "HV min", "HV max", "front", "s / run"):
        table.add_column(col, justify="right")
    for wl_name in args.workloads.split(","):
        ctx, est = prepared(wl_name, args, con)
        t = ctx.tables
        fronts: dict[str, list[np.ndarray]] = {}
        info: dict[str, tuple[int, float]] = {}
        for spec in args.spaces.split(","):
            space = make_space(t, [s.K for s in ctx.graph.quantizable], spec, ctx.ranking)
            fronts[spec] = []
            t0 = time.perf_counter()
            for seed in (int(s) for s in args.seeds.split(",")):
                archive = Archive(t.layer_names, False)
                strategy = NSGA2Strategy(args.pop_size, args.generations)
                run_search(
                    space, strategy, scorer(t, OBJECTIVES, est), archive, len(OBJECTIVES), seed
                )
                fronts[spec].append(archive_front(archive))
            info[spec] = (space.n_var, (time.perf_counter() - t0) / len(fronts[spec]))
        hvs = hypervolumes([f for fs in fronts.values() for f in fs])
        for spec, fs in fronts.items():
            hv, hvs = hvs[: len(fs)], hvs[len(fs) :]
            table.add_row(
                wl_name,
                spec,
                str(info[spec][0]),
                f"{np.mean(hv):.4f}",
                f"{min(hv):.4f}",
                f"{max(hv):.4f}",
                f"{np.mean([len(f) for f in fs]):.0f}",
                f"{info[spec][1]:.1f}",
            )
    show(con, table, reproduce=command("bench_channel_genomes.py", argv), page="channel_genomes")


if __name__ == "__main__":
    main()
