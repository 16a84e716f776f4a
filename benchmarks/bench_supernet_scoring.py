"""How many configurations per second the supernet scores on digits, on one core.

Each score is one forward pass over the held-out split (359 images) at a random per-layer
configuration of MPIC's bit-widths. Target (issue 6): at least 50 per second.

Reproduce:  python benchmarks/bench_supernet_scoring.py [--configs 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import command, console, parse, set_threads, show
from rich.table import Table

from codesign.data import load_dataset
from codesign.hw import load_hardware
from codesign.quant.supernet import Supernet
from codesign.quant.train import evaluate
from codesign.workload import extract, get_workload


def main(argv: list[str] | None = None) -> None:
    """Print the scoring-rate table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=200)
    args, _ = parse(ap, argv)
    set_threads(1)  # one core
    hw = load_hardware("mpic")
    acts, wts = hw.act_bits, tuple(b for b in hw.weight_bits if b > 0)
    data = load_dataset("digits")
    wl = get_workload("digits_cnn")
    model = wl.build()
    sn = Supernet(model, extract(model, wl.example_input()), acts, wts).eval()
    n = len(sn.layer_names)
    rng = np.random.default_rng(0)
    configs = [
        (rng.choice(acts, n).tolist(), rng.choice(wts, n).tolist()) for _ in range(args.configs)
    ]
    sn.accuracy(*configs[0], data.val)  # initialise step sizes outside the timing
    t0 = time.perf_counter()
    for a, w in configs:
        sn.accuracy(a, w, data.val)
    sn_rate = args.configs / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(20):
        evaluate(model, data.val)
    fp_rate = 20 / (time.perf_counter() - t0)
    table = Table(title=f"digits_cnn, one core, {len(data.val)} held-out images per score")
    for c in ("what", "scores / s"):
        table.add_column(c, justify="right")
    table.add_row("supernet, random per-layer configuration", f"{sn_rate:,.0f}")
    table.add_row("full-precision model (for scale)", f"{fp_rate:,.0f}")
    reproduce = command("bench_supernet_scoring.py", ["--configs", str(args.configs)])
    show(console(None), table, reproduce=reproduce)


if __name__ == "__main__":
    main()
