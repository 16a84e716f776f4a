"""How many candidate networks per second the MPIC cost tables score, on one core.

Compares the vectorised population scoring (`CostTables.score`) with pricing candidates one by
one (`price_network`), side by side in one run, and the per-channel scoring (issue 12:
`--granularity channel` genomes decoded into per-channel bits with pruning, canonicalised,
then scored by `CostTables.score_channels`). Target (issue 3): >= 100,000 ResNet-8
layer-wise candidates per second on one core.

Reproduce:  python benchmarks/bench_mpic_scoring.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import command, console, parse, set_threads, show
from rich.table import Table

from codesign.core.types import Precision
from codesign.families import build_tables, price_network
from codesign.hw import load_hardware
from codesign.search.space import make_space
from codesign.workload import extract, get_workload


def _best_rate(fn, n_items: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_items / best


def main(argv: list[str] | None = None) -> None:
    """Print the scoring-rate table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--population", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--workloads", default="resnet8,dscnn,mobilenet_v1_025,digits_cnn")
    args, argv = parse(ap, argv)
    set_threads(1)  # one core
    hw = load_hardware("mpic")
    table = Table(title=f"MPIC cost-table scoring, one core, population {args.population:,}")
    for col in (
        "workload",
        "layers",
        "channels",
        "layer-wise cand/s",
        "one-by-one cand/s",
        "speed-up",
        "channel cand/s (score)",
        "channel cand/s (decode+score)",
    ):
        table.add_column(col, justify="right")
    rng = np.random.default_rng(0)
    for name in args.workloads.split(","):
        w = get_workload(name)
        g = extract(w.build(), w.example_input(), name)
        t = build_tables(g, hw)
        L = t.num_layers
        wi = rng.integers(0, len(t.weight_bits), (args.population, L))
        ai = rng.integers(0, len(t.act_bits), (args.population, L))
        vec = _best_rate(
            lambda t=t, a=ai, w=wi: t.score_indices(a, w), args.population, args.repeats
        )
        n_slow = 50
        assigns = [
            {
                n: Precision.uniform(t.act_bits[ai[p, i]], t.weight_bits[wi[p, i]], g[n].K)
                for i, n in enumerate(t.layer_names)
            }
            for p in range(n_slow)
        ]
        slow = _best_rate(lambda g=g, s=assigns: [price_network(g, hw, a) for a in s], n_slow, 3)
        space = make_space(t, [s.K for s in g.quantizable], "channel")
        n_ch = min(args.population, 2000)
        X = space.random(n_ch, rng)
        batch = space.decode(X)
        ch = _best_rate(lambda t=t, b=batch: t.score(b), n_ch, 3)
        ch_all = _best_rate(lambda t=t, sp=space, X=X: t.score(sp.decode(X)), n_ch, 3)
        table.add_row(
            name,
            str(L),
            str(int(t.channels.sum())),
            f"{vec:,.0f}",
            f"{slow:,.0f}",
            f"{vec / slow:,.0f}x",
            f"{ch:,.0f}",
            f"{ch_all:,.0f}",
        )
    show(console(160), table, reproduce=command("bench_mpic_scoring.py", argv), page="mpic_scoring")


if __name__ == "__main__":
    main()
