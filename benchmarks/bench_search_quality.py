"""How close does each search strategy get to the true front, for what it spends? (issue 13)

On an instance small enough to enumerate -- digits_cnn per layer on MPIC: 5 layers x 3
activation x 3 weight bit-widths = 9^5 = 59,049 configurations -- every configuration is
scored once (accuracy loss from the run's switchable supernet, latency and peak memory from the
cost tables), so the exhaustive Pareto front is exact for that estimator. Then each strategy
searches the same objective function (the supernet's losses looked up from that table, so a
search costs milliseconds) at several budgets, several seeds:

- NSGA-II (`codesign.search.nsga2`) and random search (`codesign.search.random`), 64 per
  generation;
- the uniform-precision points (every layer alike: 9 configurations);
- greedy sensitivity-ordered bit-lowering (the simplest form of the HAQ / HAWQ family): from
  every layer at the widest bits, repeatedly lower the one (layer, weight or activation) step
  that loses the least accuracy per unit of latency saved, until everything is at the lowest
  bits; every configuration it visits is kept.

Each front's hypervolume (pymoo, objectives normalised between the exhaustive front's ideal and
nadir, reference 1.1) is given as a fraction of the exhaustive front's, against the distinct
configurations evaluated. The exhaustive losses are cached in --out.

Then joint against sequential on hw_models/eyeriss.yaml (same bit-widths, so the same
losses): *sequential* fixes each layer's mapping to its minimum-energy mapping at w8a8, searches
the bits with NSGA-II, then re-maps every front point (each layer its minimum-energy kept
mapping at its bits); *joint* searches bits and mapping genes together (the default). Same
budget and seeds; objectives accuracy loss / energy / latency; hypervolume normalised over both,
and the lowest energy within 0.5, 1, 2 and 5 pp (--thresholds) of the estimator's full-precision
accuracy. On digits_cnn the supernet puts even all-2-bit configurations within 0.5 pp, so that
comparison says little about accuracy; --eyeriss-workload mnist1d_cnn runs it on MNIST-1D, whose
accuracies spread, with its own base model and its own supernet trained for Eyeriss's bit-widths
(both cached in --results-dir/cache); --eyeriss-only leaves out the exhaustive MPIC part.

Reproduce:  python benchmarks/bench_search_quality.py [--seeds 0,1,2]
            [--budgets 5,10,20,40] (generations of 64) [--hw mpic]
            python benchmarks/bench_search_quality.py --eyeriss-only --eyeriss-workload mnist1d_cnn
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
from _common import (
    add_pipeline_args,
    archive_front,
    command,
    console,
    front_of,
    front_rows,
    hypervolumes,
    parse,
    pipeline,
    pipeline_options,
    set_threads,
    show,
)
from rich.progress import Progress
from rich.table import Table

from codesign.core.candidates import CandidateBatch, index_of, objective_values
from codesign.core.types import Objective
from codesign.search.archive import Archive
from codesign.search.loop import run_search, scorer
from codesign.search.nsga2 import NSGA2Strategy
from codesign.search.random import RandomStrategy
from codesign.search.space import LayerwiseSpace

OBJECTIVES = (Objective.ACCURACY_LOSS, Objective.LATENCY, Objective.MEMORY)


class LookupEstimator:
    """Accuracy loss of a layer-wise batch looked up in the exhaustive table."""

    def __init__(self, loss: np.ndarray, act_bits, weight_bits) -> None:  # noqa: ANN001
        self.table = loss
        self.act_bits, self.weight_bits = tuple(act_bits), tuple(weight_bits)

    def index(self, a_idx: np.ndarray, w_idx: np.ndarray) -> np.ndarray:
        """Row of each configuration in the enumeration (layer 0 varies slowest)."""
        pair = w_idx * len(self.act_bits) + a_idx  # [P, L]
        base = len(self.act_bits) * len(self.weight_bits)
        L = pair.shape[1]
        return (pair * base ** np.arange(L - 1, -1, -1)).sum(axis=1)

    def loss(self, batch: CandidateBatch) -> np.ndarray:
        """The table's loss of every candidate."""
        a = index_of(batch.act_bits, self.act_bits)
        w = index_of(batch.layer_weight_bits(), self.weight_bits)
        return self.table[self.index(a, w)]


def enumerate_all(L: int, A: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """(act indices, weight indices) [N, L] of every configuration, in `LookupEstimator` order."""
    pair = np.indices((A * W,) * L).reshape(L, -1).T  # layer 0 slowest
    return pair % A, pair // A


def exhaustive_losses(sn_est, tables, a_idx, w_idx, cache: Path) -> np.ndarray:  # noqa: ANN001
    """The supernet's loss of every configuration (cached)."""
    if cache.exists():
        return np.load(cache)
    out = np.empty(len(a_idx))
    chunk = 512
    with Progress() as prog:
        task = prog.add_task("exhaustive supernet scoring", total=len(a_idx))
        for i in range(0, len(a_idx), chunk):
            a, w = a_idx[i : i + chunk], w_idx[i : i + chunk]
            b = CandidateBatch.layerwise(
                tables.layer_names,
                [int(k) for k in tables.channels],
                np.asarray(tables.act_bits)[a],
                np.asarray(tables.weight_bits)[w],
            )
            out[i : i + chunk] = sn_est.loss(b)
            prog.update(task, completed=min(i + chunk, len(a_idx)))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out


def greedy(tables, est: LookupEstimator, score) -> np.ndarray:  # noqa: ANN001
    """Objective rows of every configuration greedy bit-lowering visits."""
    L = tables.num_layers
    a = np.full(L, len(tables.act_bits) - 1)
    w = np.full(L, len(tables.weight_bits) - 1)
    rows = []

    def f(a, w):  # noqa: ANN001, ANN202
        b = CandidateBatch.layerwise(
            tables.layer_names,
            [int(k) for k in tables.channels],
            np.asarray(tables.act_bits)[a][None],
            np.asarray(tables.weight_bits)[w][None],
        )
        s = score(b)
        return s.objectives[0], bool(s.feasible[0])

    cur, ok = f(a, w)
    rows.append(cur)
    while (a > 0).any() or (w > 0).any():
        best = None
        for kind, arr in (("a", a), ("w", w)):
            for li in range(L):
                if arr[li] == 0:
                    continue
                na, nw = a.copy(), w.copy()
                (na if kind == "a" else nw)[li] -= 1
                obj, _ = f(na, nw)
                rows.append(obj)
                dloss = max(obj[0] - cur[0], 0.0)
                dlat = max(cur[1] - obj[1], 1e-12)
                ratio = dloss / dlat
                if best is None or ratio < best[0]:
                    best = (ratio, na, nw, obj)
        _, a, w, cur = best
    return np.array(rows)


def supernet_of(wl_name: str, hw: str, args, con):  # noqa: ANN001, ANN201
    """(prepared context, supernet estimator, supernet checkpoint path) of a workload on `hw`:
    codesign's prepare stage (the full-precision base model, trained once and cached in
    --results-dir/cache) and its supernet estimator (trained once for `hw`'s bit-widths and
    cached likewise)."""
    with pipeline(con, workload=wl_name, hw=hw, seed=0, **pipeline_options(args)) as p:
        t0 = time.perf_counter()
        est = p.estimator("supernet")
        note = p.notes["supernet"]
    if not note["cached"]:
        con.print(
            f"{wl_name} supernet for {p.ctx.hardware.name} trained in "
            f"{time.perf_counter() - t0:.0f} s: {note['path']}"
        )
    return p.ctx, est, Path(note["path"])


def eyeriss_inputs(wl_name: str, args, con):  # noqa: ANN001, ANN201
    """(Eyeriss cost tables of the workload, its supernet estimator). digits_cnn takes the
    supernet of the MPIC run (same bit-widths), as the full benchmark does; any other workload
    its own, trained for Eyeriss's bit-widths."""
    if wl_name != "digits_cnn":
        ctx, est, _ = supernet_of(wl_name, "eyeriss", args, con)
        return ctx.tables, est
    _, est, _ = supernet_of(wl_name, args.hw, args, con)
    return eyeriss_tables(wl_name, args, con), est


def eyeriss_tables(wl_name: str, args, con):  # noqa: ANN001, ANN201
    """The workload's cost tables on Eyeriss (prepare stage; mapper results cached)."""
    with pipeline(con, workload=wl_name, hw="eyeriss", seed=0, **pipeline_options(args)) as p:
        return p.ctx.tables


def main(argv: list[str] | None = None) -> None:
    """Enumerate, search, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budgets", default="5,10,20,40")
    ap.add_argument("--pop-size", type=int, default=64)
    ap.add_argument(
        "--hw",
        default="mpic",
        help="the MCU of the exhaustive part (a bundled name or a file; digits_cnn's Eyeriss "
        "comparison reuses its supernet, so it needs Eyeriss's bit-widths)",
    )
    add_pipeline_args(ap)
    ap.add_argument("--out", default="results/bench_search_quality")
    ap.add_argument("--skip-eyeriss", action="store_true", help="leave out joint vs sequential")
    ap.add_argument(
        "--eyeriss-only", action="store_true", help="only joint vs sequential (no exhaustive MPIC)"
    )
    ap.add_argument(
        "--eyeriss-workload",
        default="digits_cnn",
        help="workload of joint vs sequential; other than digits_cnn it gets its own base model "
        "and its own supernet trained for Eyeriss's bit-widths",
    )
    ap.add_argument(
        "--thresholds", default="0.5,1,2,5", help="pp below full precision for the lowest energy"
    )
    args, argv = parse(ap, argv)
    if args.eyeriss_only and args.skip_eyeriss:
        ap.error("--eyeriss-only and --skip-eyeriss leave nothing to run")
    set_threads(1)
    con = console(140)
    seeds = [int(s) for s in args.seeds.split(",")]
    reproduce = command("bench_search_quality.py", argv)
    if args.eyeriss_only or (not args.skip_eyeriss and args.eyeriss_workload != "digits_cnn"):
        t_e, est_e = eyeriss_inputs(args.eyeriss_workload, args, con)
    if args.eyeriss_only:
        table = joint_vs_sequential(t_e, est_e, args, seeds, args.eyeriss_workload, est_e)
        show(con, table, reproduce=reproduce, page="search_quality")
        return
    ctx, sn_est, path = supernet_of("digits_cnn", args.hw, args, con)
    t = ctx.tables
    a_idx, w_idx = enumerate_all(t.num_layers, len(t.act_bits), len(t.weight_bits))
    key = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    t0 = time.perf_counter()
    loss = exhaustive_losses(sn_est, t, a_idx, w_idx, Path(args.out) / f"losses-{key}.npy")
    t_exh = time.perf_counter() - t0
    est = LookupEstimator(loss, t.act_bits, t.weight_bits)
    score = scorer(t, OBJECTIVES, est)
    costs = t.score_indices(a_idx, w_idx)
    F_all = objective_values(OBJECTIVES, costs, loss)
    exact = front_of(F_all, costs.peak_bytes <= t.memory_limit_bytes)

    def hv(F: np.ndarray) -> float:
        return hypervolumes([F], over=exact)[0]

    hv_exact = hv(exact)
    table = Table(
        title=f"digits_cnn on {ctx.hardware.name}, per layer: {len(F_all):,} configurations, "
        f"exhaustive front {len(exact)} points (supernet losses: {t_exh:.0f} s). "
        "Hypervolume / exhaustive"
    )
    for col in (
        "method",
        "generations",
        "evaluations (mean)",
        "% of space",
        "HV fraction mean",
        "min",
        "max",
    ):
        table.add_column(col, justify="right")
    space = LayerwiseSpace(t, tuple(int(k) for k in t.channels))
    for name, cls in (("nsga2", NSGA2Strategy), ("random", RandomStrategy)):
        for gens in (int(b) for b in args.budgets.split(",")):
            fr, ev = [], []
            for seed in seeds:
                archive = Archive(t.layer_names, False)
                run_search(space, cls(args.pop_size, gens), score, archive, 3, seed)
                fr.append(hv(archive_front(archive)) / hv_exact)
                ev.append(len(archive))
            table.add_row(
                name,
                str(gens),
                f"{np.mean(ev):,.0f}",
                f"{100 * np.mean(ev) / len(F_all):.2f}",
                f"{np.mean(fr):.4f}",
                f"{min(fr):.4f}",
                f"{max(fr):.4f}",
            )
    uni = score(space.decode(space.seeds()))
    table.add_row(
        "uniform",
        "-",
        str(len(uni.objectives)),
        f"{100 * len(uni.objectives) / len(F_all):.3f}",
        f"{hv(front_of(uni.objectives, uni.feasible)) / hv_exact:.4f}",
        "",
        "",
    )
    G = greedy(t, est, score)
    table.add_row(
        "greedy lowering",
        "-",
        str(len(G)),
        f"{100 * len(G) / len(F_all):.3f}",
        f"{hv(front_of(G)) / hv_exact:.4f}",
        "",
        "",
    )
    show(con, table, page="search_quality")
    if not args.skip_eyeriss:
        if args.eyeriss_workload == "digits_cnn":
            t_e = eyeriss_tables("digits_cnn", args, con)
            table = joint_vs_sequential(t_e, est, args, seeds, "digits_cnn", sn_est)
        else:
            wl = args.eyeriss_workload
            table = joint_vs_sequential(t_e, est_e, args, seeds, wl, est_e)
        show(con, table, page="search_quality")
    show(con, reproduce=reproduce, page="search_quality")


class _FixedMappingSpace(LayerwiseSpace):
    """The layer-wise bit genes only; every layer runs the mapping `fixed[l]`."""

    def __init__(self, tables, fixed: np.ndarray) -> None:  # noqa: ANN001
        super().__init__(tables, tuple(int(k) for k in tables.channels))
        L = tables.num_layers
        self.fixed = np.asarray(fixed, dtype=np.int64)
        self.has_mapping = False
        self.xu, self.xl = self.xu[: 2 * L], self.xl[: 2 * L]
        self.choice = self.choice[: 2 * L]
        self.n_var = 2 * L

    def decode(self, X: np.ndarray) -> CandidateBatch:
        """Bits from the genes, the fixed mapping for every layer."""
        X = np.rint(np.asarray(X, dtype=np.float64)).astype(np.intp)
        L = self.num_layers
        m = np.repeat(self.fixed[None], len(X), axis=0)
        return CandidateBatch.layerwise(
            self.tables.layer_names, self.channels, self._a[X[:, L:]], self._w[X[:, :L]], m
        )

    def seeds(self) -> np.ndarray:
        """The uniform configurations."""
        L = self.num_layers
        rows = [
            [wi] * L + [ai] * L
            for wi in range(len(self.tables.weight_bits))
            for ai in range(len(self.tables.act_bits))
        ]
        return np.asarray(rows, dtype=np.float64)


def joint_vs_sequential(t, est, args, seeds, wl_name, sn_est) -> Table:  # noqa: ANN001
    """The Eyeriss comparison of the module docstring on Eyeriss's cost tables `t`; `sn_est`
    gives the full-precision accuracy the losses are measured from. Returns its table."""
    objectives = (Objective.ACCURACY_LOSS, Objective.ENERGY, Objective.LATENCY)
    t_start = time.perf_counter()
    score = scorer(t, objectives, est)
    L = t.num_layers
    a8, w8 = t.act_bits.index(8), t.weight_bits.index(8)
    m8 = t.energy_j[np.arange(L), a8, w8, :].argmin(axis=1)
    gens = max(int(b) for b in args.budgets.split(","))
    fronts: dict[str, list[np.ndarray]] = {"joint": [], "sequential": []}
    for seed in seeds:
        archive = Archive(t.layer_names, True)
        run_search(
            LayerwiseSpace(t, tuple(int(k) for k in t.channels)),
            NSGA2Strategy(args.pop_size, gens),
            score,
            archive,
            3,
            seed,
        )
        fronts["joint"].append(archive_front(archive))
        archive = Archive(t.layer_names, True)
        run_search(
            _FixedMappingSpace(t, m8), NSGA2Strategy(args.pop_size, gens), score, archive, 3, seed
        )
        F = archive.objectives()
        ids = front_rows(F, archive.feasible())
        b = archive.batch(ids)
        a_i = index_of(b.act_bits, t.act_bits)
        w_i = index_of(b.layer_weight_bits(), t.weight_bits)
        rows = np.arange(L)[None, :]
        remap = t.energy_j[rows, a_i, w_i, :].argmin(axis=2)  # [P, L]
        b2 = CandidateBatch(b.layer_names, b.act_bits, b.weight_bits, b.group_sizes, remap)
        s2 = score(b2)
        fronts["sequential"].append(front_of(s2.objectives, s2.feasible))
    every = np.vstack([f for fs in fronts.values() for f in fs])
    ths = [float(x) for x in args.thresholds.split(",")]
    table = Table(
        title=f"Eyeriss, {wl_name} per layer, NSGA-II {args.pop_size} x {gens}, "
        "seeds " + ",".join(map(str, seeds)) + ": joint against sequential "
        f"(full precision {sn_est.fp_accuracy:.2f} %, {time.perf_counter() - t_start:.0f} s)"
    )
    head = " / ".join(f"{th:g}" for th in ths)
    for col in ("method", "HV mean", "HV min", "HV max", f"min energy uJ within {head} pp"):
        table.add_column(col, justify="right")
    per_seed: dict[str, np.ndarray] = {}  # [threshold, seed] lowest energy, NaN: none within
    for name, fs in fronts.items():
        hv = hypervolumes(fs, over=every)
        e = np.array([[min(f[f[:, 0] <= th, 1], default=np.nan) for f in fs] for th in ths])
        per_seed[name] = e
        within = []
        for row in e:
            vals = row[np.isfinite(row)]
            # a mean over fewer seeds than were run says so
            part = "" if len(vals) == len(fs) else f" ({len(vals)}/{len(fs)} seeds)"
            within.append(f"{vals.mean():.3f}{part}" if len(vals) else "-")
        table.add_row(
            name, f"{np.mean(hv):.4f}", f"{min(hv):.4f}", f"{max(hv):.4f}", " / ".join(within)
        )
    saving = []  # over the seeds where both methods have a point within the threshold
    for j, s in zip(per_seed["joint"], per_seed["sequential"], strict=True):
        both = np.isfinite(j) & np.isfinite(s)
        part = "" if both.all() else f" ({both.sum()}/{len(both)} seeds)"
        saving.append(
            f"{100 * (1 - j[both].mean() / s[both].mean()):.1f}{part}" if both.any() else "-"
        )
    table.add_row("joint saving %", "", "", "", " / ".join(saving))
    return table


if __name__ == "__main__":
    main()
