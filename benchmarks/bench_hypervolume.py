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
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codesign.core.types import Objective  # noqa: E402
from codesign.run import RunDir  # noqa: E402
from codesign.search.pareto import hypervolume  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", nargs="+", required=True, help="run directories (A)")
    ap.add_argument("--against", nargs="+", required=True, help="run directories (B), paired")
    args = ap.parse_args()
    if len(args.runs) != len(args.against):
        sys.exit("--runs and --against need as many run directories each")
    print("| A | B | evaluated A / B | front A / B | HV A | HV B | A / B |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ratios = []
    for a, b in zip(args.runs, args.against):
        Fa, oa, na = front_matrix(a)
        Fb, ob, nb = front_matrix(b)
        if oa != ob:
            sys.exit(f"{a} and {b} searched different objectives")
        both = np.vstack([Fa, Fb])
        ideal, nadir = both.min(axis=0), both.max(axis=0)
        ha, hb = hypervolume(Fa, ideal, nadir), hypervolume(Fb, ideal, nadir)
        ratios.append(ha / hb if hb > 0 else float("nan"))
        print(
            f"| {Path(a).name} | {Path(b).name} | {na} / {nb} | {len(Fa)} / {len(Fb)} | "
            f"{ha:.4f} | {hb:.4f} | {ratios[-1]:.3f} |"
        )
    print(f"\nmean HV ratio A / B: {np.nanmean(ratios):.3f} over {len(ratios)} pairs")
    print("command: python benchmarks/bench_hypervolume.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
