"""Does the best mapping change with the bit-widths? Why codesign searches the two jointly.

For every quantizable layer of each workload on each spatial accelerator, the mapper's
minimum-energy mapping at w8a8 and at w2a2 are compared. The table counts the layers whose
best mapping differs, and prices the w8a8 mapping at w2a2: what a flow that maps once at
8 bits and then quantizes would pay, against mapping at the bits actually used.

ResNet-18 stands for its 11 distinct convolutions at 224x224 (benchmarks/resnet18.py), each
counted once.

Reproduce:  python benchmarks/bench_mapping_vs_bits.py [--hw eyeriss,simba_like,...]
                                                       [--workloads resnet18,resnet8,...]
"""

from __future__ import annotations

import argparse

import numpy as np
import resnet18  # benchmarks/resnet18.py, beside this file
from _common import command, console, parse, set_threads, show
from rich.table import Table

from codesign.cost.spatial import evaluate
from codesign.hw import load_hardware
from codesign.mapping.mapper import map_layer
from codesign.workload import extract, get_workload


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hw", default="eyeriss,simba_like,tpu_like,bitfusion")
    ap.add_argument("--workloads", default="resnet18,resnet8,dscnn,mobilenet_v1_025")
    args, argv = parse(ap, argv)
    set_threads(1)
    table = Table(title="min-energy mapping at w8a8 reused at w2a2, against mapping at w2a2")
    for col in (
        "hardware",
        "workload",
        "layers",
        "best mapping differs",
        "layer penalty, median",
        "layer penalty, max",
        "network energy penalty",
    ):
        table.add_column(col, justify="right")
    layer_lists = {}
    for name in args.workloads.split(","):
        if name == "resnet18":  # its distinct convolutions, as in bench_zigzag.py
            layer_lists[name] = resnet18.layers()
        else:
            w = get_workload(name)
            layer_lists[name] = extract(w.build(), w.example_input(), name).quantizable
    for hw_name in args.hw.split(","):
        hw = load_hardware(hw_name)
        a8, w8 = hw.act_bits.index(8), hw.weight_bits.index(8)
        a2, w2 = hw.act_bits.index(2), hw.weight_bits.index(2)
        for name, specs in layer_lists.items():
            differs, penalty, reused_pj, best_pj = 0, [], 0.0, 0.0
            for spec in specs:
                lm = map_layer(spec, hw)
                i8, i2 = int(lm.index[a8, w8, 0]), int(lm.index[a2, w2, 0])
                # the least energy at w2a2 of every mapping the mapper priced (the kept
                # min-energy pick breaks near-ties for latency, so the reused mapping could
                # beat it)
                every = evaluate(spec, hw, lm.mappings, 2, 2)
                best = float(np.where(every.valid, every.energy_pj, np.inf).min())
                # a mapping that fits at 8 bits fits at 2: the reused one is always valid
                reused = float(
                    evaluate(spec, hw, lm.mappings.take(np.array([i8])), 2, 2).energy_pj[0]
                )
                differs += i8 != i2
                penalty.append(reused / best - 1.0)
                reused_pj += reused
                best_pj += best
            table.add_row(
                hw.name,
                name,
                str(len(penalty)),
                str(differs),
                f"{100 * np.median(penalty):.1f} %",
                f"{100 * max(penalty):.1f} %",
                f"{100 * (reused_pj / best_pj - 1.0):.1f} %",
            )
    show(
        console(160),
        table,
        reproduce=command("bench_mapping_vs_bits.py", argv),
        page="mapping_vs_bits",
    )


if __name__ == "__main__":
    main()
