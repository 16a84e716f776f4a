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

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from codesign.core.types import Objective  # noqa: E402
from codesign.data import load_dataset  # noqa: E402
from codesign.families import build_tables  # noqa: E402
from codesign.hw import load_hardware  # noqa: E402
from codesign.quant.importance import channel_ranking  # noqa: E402
from codesign.quant.proxy import measure_sensitivity  # noqa: E402
from codesign.search.archive import Archive  # noqa: E402
from codesign.search.loop import run_search, scorer  # noqa: E402
from codesign.search.nsga2 import NSGA2Strategy  # noqa: E402
from codesign.search.pareto import hypervolume, pareto_mask  # noqa: E402
from codesign.search.space import make_space  # noqa: E402
from codesign.stages.prepare import base_model  # noqa: E402
from codesign.workload import extract, get_workload  # noqa: E402

HW = Path(__file__).resolve().parents[1] / "hw_models" / "mpic.yaml"
OBJECTIVES = (Objective.ACCURACY_LOSS, Objective.ENERGY, Objective.MEMORY)


def neutral_supernet(model, g, wl_name, hw, t, data, results_dir):  # noqa: ANN001, ANN201
    """A supernet estimator trained on per-channel configurations drawn gene by gene from the
    one-gene-per-channel space (cached like the runs' supernets)."""
    from codesign.cache import weights_hash
    from codesign.quant.estimators import SupernetEstimator
    from codesign.quant.supernet import SupernetSchedule, load_or_train_supernet
    from codesign.quant.train import evaluate

    space = make_space(t, [s.K for s in g.quantizable], "group:1")

    def sample(rng: np.random.Generator) -> tuple[list[int], list]:
        b = space.decode(space.random(1, rng))
        while any(int(w.max()) == 0 for w in b.weight_bits):
            b = space.decode(space.random(1, rng))
        return [int(a) for a in b.act_bits[0]], [p.weight_bits for p in b.precisions(0)]

    sn, _, _ = load_or_train_supernet(
        model,
        g,
        wl_name,
        hw.name,
        t.act_bits,
        t.weight_bits,
        data.train,
        Path(results_dir) / "cache",
        weights_hash(model),
        SupernetSchedule(sampling="group:1:bench-neutral:v2"),
        0,
        None,
        sample,
    )
    return SupernetEstimator(sn, data.val, evaluate(model, data.val))


def main() -> None:
    """Search every (workload, space, seed) and print the hypervolume table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="digits_cnn,mnist1d_cnn")
    ap.add_argument("--spaces", default="channel,group:1,group:4,layer")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--pop-size", type=int, default=64)
    ap.add_argument("--generations", type=int, default=40)
    ap.add_argument("--results-dir", default="results")
    ap.add_argument("--estimator", choices=("proxy", "supernet"), default="proxy")
    args = ap.parse_args()
    torch.set_num_threads(1)
    hw = load_hardware(HW)
    console = Console(width=140)
    table = Table(
        title=f"NSGA-II per genome on MPIC, {args.pop_size} x {args.generations} evaluations, "
        f"seeds {args.seeds}: hypervolume (accuracy loss by {args.estimator}, energy, peak "
        "memory)"
    )
    for col in ("workload", "genome", "genes", "HV mean", "HV min", "HV max", "front", "s / run"):
        table.add_column(col, justify="right")
    for wl_name in args.workloads.split(","):
        wl = get_workload(wl_name)
        data = load_dataset(wl.dataset, seed=0)
        model, _ = base_model(wl, data, 0, Path(args.results_dir) / "cache", None, console)
        g = extract(model, wl.example_input(), wl_name)
        t = build_tables(g, hw)
        ranking = channel_ranking(model, g)
        if args.estimator == "proxy":
            est = measure_sensitivity(
                model,
                g.quantizable,
                t.act_bits,
                t.weight_bits,
                data.train,
                data.val,
                ranking=ranking,
                prunable=t.prunable,
            )
        else:
            est = neutral_supernet(model, g, wl_name, hw, t, data, args.results_dir)
        fronts: dict[str, list[np.ndarray]] = {}
        info: dict[str, tuple[int, float]] = {}
        for spec in args.spaces.split(","):
            space = make_space(t, [s.K for s in g.quantizable], spec, ranking)
            fronts[spec] = []
            t0 = time.perf_counter()
            for seed in (int(s) for s in args.seeds.split(",")):
                archive = Archive(t.layer_names, False)
                strategy = NSGA2Strategy(args.pop_size, args.generations)
                run_search(
                    space, strategy, scorer(t, OBJECTIVES, est), archive, len(OBJECTIVES), seed
                )
                F = archive.objectives()
                fronts[spec].append(F[pareto_mask(F, archive.feasible())])
            info[spec] = (space.n_var, (time.perf_counter() - t0) / len(fronts[spec]))
        every = np.vstack([f for fs in fronts.values() for f in fs])
        ideal, nadir = every.min(axis=0), every.max(axis=0)
        for spec, fs in fronts.items():
            hv = [hypervolume(f, ideal, nadir) for f in fs]
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
    console.print(table)
    print("reproduce: python benchmarks/bench_channel_genomes.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
