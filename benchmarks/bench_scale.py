"""How the pipeline grows with the network (issue 17): wall time and peak memory of each step.

For each network, hardware and granularity, in a fresh subprocess on one thread (so its peak
resident memory is its own) with an empty mapping cache (so the mapper runs cold):

- extraction: torch.fx tracing and shape propagation (`codesign.workload.extract`);
- tables: every layer priced at every bit pair, the mapper included on spatial hardware;
- search: 100 generations of NSGA-II at population 64 on the cost objectives (latency, energy,
  memory on MPIC; energy, latency on Eyeriss), decoding, scoring and archiving included.

Per-channel granularity runs on MPIC only (the spatial models refuse per-channel bits). The
table also gives layers, channels (sum of output channels of the quantizable layers) and genes,
to read how each step grows.

Reproduce:  python benchmarks/bench_scale.py [--networks digits_cnn,resnet18,resnet50,mobilenet_v2]
            [--generations 100] [--pop-sizes 64] [--hw mpic:layer,mpic:channel,eyeriss:layer]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import command, console, parse, set_threads, show


def one(network: str, hw_name: str, granularity: str, gens: int, pop: int) -> dict:
    """Measure one (network, hardware, granularity) in this process."""
    set_threads(1)
    from codesign.core.types import Objective
    from codesign.families import build_tables
    from codesign.hw import load_hardware
    from codesign.quant.importance import channel_ranking
    from codesign.search.archive import Archive
    from codesign.search.loop import run_search, scorer
    from codesign.search.nsga2 import NSGA2Strategy
    from codesign.search.space import make_space
    from codesign.workload import extract, get_workload

    out: dict = {"network": network, "hw": hw_name, "granularity": granularity}
    wl = get_workload(network)
    model = wl.build().eval()
    t0 = time.perf_counter()
    graph = extract(model, wl.example_input(), network)
    out["extract_s"] = time.perf_counter() - t0
    q = graph.quantizable
    out["layers"], out["channels"] = len(q), sum(s.K for s in q)
    hw = load_hardware(hw_name)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        tables = build_tables(graph, hw, None, Path(cache))
        out["tables_s"] = time.perf_counter() - t0
    ranking = channel_ranking(model, graph) if granularity == "channel" else None
    space = make_space(tables, [s.K for s in q], granularity, ranking)
    out["genes"] = int(space.n_var)
    family_objs = {
        "mpic": (Objective.LATENCY, Objective.ENERGY, Objective.MEMORY),
        "eyeriss": (Objective.ENERGY, Objective.LATENCY),
    }[hw_name]
    archive = Archive(tables.layer_names, space.has_mapping)
    t0 = time.perf_counter()
    run_search(
        space, NSGA2Strategy(pop, gens), scorer(tables, family_objs), archive, len(family_objs), 0
    )
    out["search_s"] = time.perf_counter() - t0
    out["evaluated"] = len(archive)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv: list[str] | None = None) -> None:
    """Measure every (network, hardware, granularity, population), each in a subprocess of
    its own, and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="digits_cnn,resnet18,mobilenet_v2,resnet50")
    ap.add_argument("--generations", type=int, default=100)
    ap.add_argument("--pop-size", type=int, default=64)
    ap.add_argument(
        "--pop-sizes", default="", help="comma-separated populations to sweep (else --pop-size)"
    )
    ap.add_argument("--hw", default="mpic:layer,mpic:channel,eyeriss:layer")
    ap.add_argument("--one", nargs=3, metavar=("NET", "HW", "GRAN"), help=argparse.SUPPRESS)
    args, _ = parse(ap, argv)
    set_threads(1)  # the subprocesses' BLAS too
    if args.one:
        print(json.dumps(one(*args.one, args.generations, args.pop_size)))
        return
    from rich.table import Table

    con = console(150)
    rows = []
    pops = [int(p) for p in args.pop_sizes.split(",")] if args.pop_sizes else [args.pop_size]
    targets = [tuple(x.split(":")) for x in args.hw.split(",")]
    jobs = [(n, t, p) for n in args.networks.split(",") for t in targets for p in pops]
    for net, (hw, gran), pop in jobs:
        cmd = [sys.executable, __file__, "--one", net, hw, gran, "--generations",
               str(args.generations), "--pop-size", str(pop)]  # fmt: skip
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            con.print(f"[red]{net} {hw} {gran} failed:[/] {res.stderr.strip()[-400:]}")
            continue
        row = json.loads(res.stdout.strip().splitlines()[-1])
        row["total_s"] = time.perf_counter() - t0
        row["pop"] = pop
        rows.append(row)
        con.print(row)
    t = Table(
        title=f"scale: NSGA-II x {args.generations} generations, cost objectives, one thread, "
        "cold mapping cache"
    )
    cols = ("network", "hw", "granularity", "layers", "channels", "genes", "pop", "extract s",
            "tables s", "search s", "evaluated", "process s", "peak MB")  # fmt: skip
    for c in cols:
        t.add_column(c, justify="right")
    for r in rows:
        t.add_row(
            r["network"], r["hw"], r["granularity"], str(r["layers"]), str(r["channels"]),
            str(r["genes"]), str(r["pop"]), f"{r['extract_s']:.2f}", f"{r['tables_s']:.2f}",
            f"{r['search_s']:.1f}", str(r["evaluated"]), f"{r['total_s']:.1f}",
            f"{r['peak_mb']:.0f}",
        )  # fmt: skip
    reproduce = [
        *("--networks", args.networks, "--hw", args.hw, "--generations", str(args.generations)),
        *("--pop-sizes", ",".join(map(str, pops))),
    ]
    show(con, t, reproduce=command("bench_scale.py", reproduce), page="scale")


if __name__ == "__main__":
    main()
