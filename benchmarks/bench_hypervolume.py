"""Hypervolume of the Pareto fronts of runs, side by side (pymoo's indicator, normalised).

Each group of runs (same workload, hardware and objectives) is normalised together: every
objective is scaled to [0, 1] between the best and the worst value any front of the group
reaches, and the reference point is 1.1 in every objective. A larger hypervolume is a better
front. Use it to compare strategies, or one code version against another at equal seeds and
evaluations (runs written by codesign 0.1's v1 front format are read too).

    python benchmarks/bench_hypervolume.py --runs A1 A2 A3 --against B1 B2 B3

prints one row per pair (A_i beside B_i) and the mean ratio.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import command, hypervolumes, parse, print_reproduce, write_doc_page

from codesign.core.types import Objective
from codesign.run import RunDir

COLUMN = {
    Objective.ACCURACY_LOSS: lambda f, c: c.est_accuracy_loss,
    Objective.LATENCY: lambda f, c: c.latency_ms,
    Objective.ENERGY: lambda f, c: c.energy_uj,
    Objective.MEMORY: lambda f, c: c.peak_kb,
}


def front_matrix(run: str) -> tuple[np.ndarray, tuple[Objective, ...], int]:
    """(objective matrix of the run's front, its objectives, candidates evaluated)."""
    front = RunDir(Path(run)).load_front()
    F = np.array([[COLUMN[o](front, c) for o in front.objectives] for c in front.candidates])
    return F, front.objectives, front.evaluated


def main(argv: list[str] | None = None) -> None:
    """Print the table of hypervolumes, one row per pair of runs."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", required=True, help="run directories (A)")
    ap.add_argument("--against", nargs="+", required=True, help="run directories (B), paired")
    args, argv = parse(ap, argv)
    if len(args.runs) != len(args.against):
        raise SystemExit("--runs and --against need as many run directories each")
    lines = ["| A | B | evaluated A / B | front A / B | HV A | HV B | A / B |"]
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    ratios = []
    for a, b in zip(args.runs, args.against):
        Fa, oa, na = front_matrix(a)
        Fb, ob, nb = front_matrix(b)
        if oa != ob:
            raise SystemExit(f"{a} and {b} searched different objectives")
        ha, hb = hypervolumes([Fa, Fb])
        ratios.append(ha / hb if hb > 0 else float("nan"))
        lines.append(
            f"| {Path(a).name} | {Path(b).name} | {na} / {nb} | {len(Fa)} / {len(Fb)} | "
            f"{ha:.4f} | {hb:.4f} | {ratios[-1]:.3f} |"
        )
    lines += ["", f"mean HV ratio A / B: {np.nanmean(ratios):.3f} over {len(ratios)} pairs"]
    print("\n".join(lines))
    print_reproduce(command("bench_hypervolume.py", argv))
    write_doc_page("hypervolume", "\n".join(lines), reproduce=command("bench_hypervolume.py", argv))


if __name__ == "__main__":
    main()
