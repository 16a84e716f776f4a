"""Sizing the accelerator with the search: EDP of the best searched Eyeriss-like hardware at
the area of eyeriss.yaml, against eyeriss.yaml at w8a8 with its best mapping (NAAS's claim).

Per workload, every variant searches the Eyeriss space (hw_models/spaces/eyeriss_space.yaml)
under ``--max-area`` = the area of eyeriss.yaml itself, priced by the same component table
(CACTI 7 / Aladdin at 45 nm), and keeps its feasible candidate of least energy-delay product:

- reference: eyeriss.yaml at w8a8, its mapping searched (the per-layer mapping genes alone);
- (a) sizing only, w8a8: hardware genes; each layer runs the mapper's min-EDP pick on each
  hardware point (the mapping is not searched with the sizing);
- (b) sizing and mapping, w8a8: hardware genes and the per-layer mapping genes;
- (c) sizing, mapping and mixed precision at iso-accuracy (workloads with data only): a full
  `codesign explore --hw-space` run (accuracy, energy, latency; supernet estimate calibrated
  on fine-tuned anchors, fine-tuned front), its least-EDP evaluated candidate whose estimated
  loss is within ``--iso-pp`` of the full-precision accuracy (fine-tuned accuracy shown where
  the run fine-tuned it).

NAAS (Lin, Yang, Han, DAC 2021) is the bar: searching connectivity and mapping with the
sizing gave 1.4-3.5x lower EDP than sizing alone ((b) against (a)), and with its network
search 4.4x against Eyeriss. Every search is NSGA-II with the same population and
generations; the mapper's settings are the flags'.

Reproduce:  python benchmarks/bench_hw_sizing.py --threads 1 --results-dir /tmp/h27res
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from _common import command, console, parse, set_threads, show
from rich.table import Table

from codesign.core.types import MapperSettings, Objective
from codesign.families import build_tables
from codesign.hw.space import load_hw_space
from codesign.search.archive import Archive
from codesign.search.hwspace import SizedSpace, SizedTables
from codesign.search.loop import run_search, scorer
from codesign.search.nsga2 import NSGA2Strategy
from codesign.search.space import LayerwiseSpace
from codesign.workload import extract, get_workload

MIN_EDP = 2  # the mapper's kept "min EDP" pick (`codesign.mapping.mapper.KEEP`)


def w8a8(hw):  # noqa: ANN001, ANN201
    """`hw` supporting 8-bit activations and weights only (its own 8x8 MAC figures)."""
    a, w = hw.act_bits.index(8), hw.weight_bits.index(8)
    return replace(
        hw,
        act_bits=(8,),
        weight_bits=(8,),
        mac_energy_pj=((hw.mac_energy_pj[a][w],),),
        macs_per_pe_per_cycle=((hw.macs_per_pe_per_cycle[a][w],),),
    )


def min_edp_only(t):  # noqa: ANN001, ANN201
    """Cost tables whose mapping axis keeps only the mapper's min-EDP pick per layer."""
    return replace(
        t,
        cycles=t.cycles[..., MIN_EDP : MIN_EDP + 1],
        energy_j=t.energy_j[..., MIN_EDP : MIN_EDP + 1],
        mapping_names=("min EDP",),
    )


class FixedMapping(SizedTables):
    """`SizedTables` with every point's mapping fixed to the min-EDP pick (no mapping gene)."""

    def tables(self, point):  # noqa: ANN001, ANN201
        point = tuple(int(p) for p in point)
        if point not in self._tables:
            hw = self.space.hardware(point)
            self._tables[point] = min_edp_only(
                build_tables(self.graph, hw, self.mapper, self.cache_dir)
            )
        return self._tables[point]


def search(space, graph, *, fixed_mapping, sizing, mapper, cache, pop, gens, seed, max_area):  # noqa: ANN001, ANN201
    """Best-EDP feasible candidate of one NSGA-II search (energy, latency; area bounded)."""
    base_tables = build_tables(graph, space.base, mapper, cache)
    if fixed_mapping:
        base_tables = min_edp_only(base_tables)
    cls = FixedMapping if fixed_mapping else SizedTables
    if not sizing:  # the base hardware alone: a space of one point
        space = replace(space, names=(), values=(), _points={})
    tables = cls(space, graph, base_tables, mapper, cache)
    channels = tuple(s.K for s in graph.quantizable)
    genome = SizedSpace(LayerwiseSpace(base_tables, channels), space)
    archive = Archive(base_tables.layer_names, genome.has_mapping)
    objs = (Objective.ENERGY, Objective.LATENCY)
    t0 = time.perf_counter()
    run_search(
        genome,
        NSGA2Strategy(pop_size=pop, generations=gens),
        scorer(tables, objs, None, max_area),
        archive,
        2,
        seed,
    )
    wall = time.perf_counter() - t0
    edp = archive.metric("energy_uj") * archive.metric("latency_ms")
    edp = np.where(archive.feasible(), edp, np.inf)
    best = int(np.argmin(edp))
    point = archive.batch([best]).hardware_of(0)
    return {
        "edp": float(edp[best]),
        "area": tables.area_mm2(point),
        "hardware": space.point_values(point) if space.names else {},
        "bits": "w8a8",
        "evaluated": len(archive),
        "points": tables.points_built,
        "wall": wall,
    }


def one_vs_outer(space, graph, *, mapper, cache, pop, gens, seed, max_area, inner_gens):  # noqa: ANN001, ANN201
    """Hardware genes in the search against an outer loop over hardware points, for the same
    wall time: the one search first (energy, latency, area; area bounded); then, until as
    much time has passed, hardware points drawn at random (seeded), each searched for its
    mappings by its own NSGA-II of `inner_gens` generations. Returns per approach (front
    objective rows, evaluations, hardware points, wall s)."""
    from codesign.core.pareto import pareto_mask

    objs = (Objective.ENERGY, Objective.LATENCY, Objective.AREA)
    base_tables = build_tables(graph, space.base, mapper, cache)
    channels = tuple(s.K for s in graph.quantizable)
    tables = SizedTables(space, graph, base_tables, mapper, cache)
    genome = SizedSpace(LayerwiseSpace(base_tables, channels), space)
    archive = Archive(base_tables.layer_names, genome.has_mapping)
    t0 = time.perf_counter()
    run_search(genome, NSGA2Strategy(pop, gens), scorer(tables, objs, None, max_area),
               archive, 3, seed)  # fmt: skip
    wall = time.perf_counter() - t0
    F, ok = archive.objectives(), archive.feasible()
    one = (F[pareto_mask(F, ok)], len(archive), tables.points_built, wall)
    rng = np.random.default_rng(seed)
    rows, evaluated, points, t0 = [], 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < wall:
        point = tuple(int(rng.integers(0, len(v))) for v in space.values)
        fixed = replace(
            space, values=tuple((v[i],) for v, i in zip(space.values, point)), _points={}
        )
        t = SizedTables(fixed, graph, base_tables, mapper, cache)
        inner = SizedSpace(LayerwiseSpace(base_tables, channels), fixed)
        a = Archive(base_tables.layer_names, inner.has_mapping)
        run_search(inner, NSGA2Strategy(pop, inner_gens), scorer(t, objs, None, max_area),
                   a, 3, seed + points)  # fmt: skip
        rows.append(a.objectives()[a.feasible()])
        evaluated, points = evaluated + len(a), points + 1
    Fo = np.vstack([r for r in rows if len(r)] or [np.zeros((0, 3))])
    outer = (Fo[pareto_mask(Fo, np.ones(len(Fo), bool))], evaluated, points,
             time.perf_counter() - t0)  # fmt: skip
    return one, outer


def iso_accuracy_run(args, space_path, max_area):  # noqa: ANN001, ANN201
    """(c): a full sizing explore with an accuracy axis; its least-EDP fine-tuned point
    within `--iso-pp` of full precision (None when no fine-tuned point is)."""
    from rich.console import Console

    from codesign.explore import explore

    t0 = time.perf_counter()
    res = explore(
        hw_space=str(space_path),
        workload=args.data_workload,
        objectives="accuracy_loss,energy,latency",
        max_area=max_area,
        pop_size=args.pop_size,
        generations=args.generations,
        seed=args.seed,
        finetune_top=args.finetune_top,
        finetune_steps=args.finetune_steps,
        supernet_steps=args.supernet_steps,
        mapper_samples=args.mapper_samples,
        mapper_refine_rounds=args.mapper_refine_rounds,
        threads=args.threads,
        results_dir=args.results_dir,
        weights=args.weights,
        console=Console(quiet=True),
    )
    wall = time.perf_counter() - t0
    front = res.front
    best = _least_edp_within(Path(res.run_dir), args.iso_pp)
    if best is None:
        return None, res, wall
    tuned = {c.id: c.finetuned_accuracy for c in front.candidates}.get(best["id"])
    acc = (
        f"fine-tuned {tuned:.2f} %"
        if tuned is not None
        else f"est. {front.fp_accuracy - best['loss']:.2f} %"
    )
    return (
        {
            "edp": best["edp"],
            "area": best["area"],
            "hardware": best["hardware"],
            "bits": f"w/a {best['bits']}, {acc} (fp {front.fp_accuracy:.2f})",
            "evaluated": front.evaluated,
            "points": _points(res.run_dir),
            "wall": wall,
        },
        res,
        wall,
    )


def _least_edp_within(run_dir: Path, iso_pp: float) -> dict | None:
    """The feasible evaluated candidate (candidates.csv) of least EDP whose estimated loss
    (supernet, calibrated on the run's fine-tuned anchors) is within `iso_pp` points."""
    import csv

    with (run_dir / "candidates.csv").open() as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["feasible"] == "True" and float(r["est_accuracy_loss_pp"]) <= iso_pp
        ]
    if not rows:
        return None
    r = min(rows, key=lambda r: float(r["energy_uj"]) * float(r["latency_ms"]))
    w = "".join(r[k] for k in r if k.startswith("w:"))
    a = "".join(r[k] for k in r if k.startswith("a:"))
    return {
        "id": int(r["id"]),
        "edp": float(r["energy_uj"]) * float(r["latency_ms"]),
        "loss": float(r["est_accuracy_loss_pp"]),
        "area": float(r["area_mm2"]),
        "hardware": {k[3:]: float(v) for k, v in r.items() if k.startswith("hw:")},
        "bits": f"{w} / {a}",
    }


def _points(run_dir: Path) -> int:
    import json

    info = json.loads((Path(run_dir) / "run.json").read_text())
    return int(info.get("progress", {}).get("hardware_points", 0))


def _hw(values: dict[str, float]) -> str:
    short = {"pe_rows": "", "pe_cols": "x", "rf_W_bits": " RF ", "rf_I_bits": "/"}
    short |= {"rf_O_bits": "/", "glb_bits": " GLB ", "glb_bandwidth": " bw ", "dram_bandwidth": "/"}
    out = ""
    for k, v in values.items():
        v = f"{int(v) // 8192}KB" if k == "glb_bits" else f"{v:g}"
        out += short.get(k, f" {k}=") + v
    return out.strip() or "eyeriss.yaml"


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write docs/benchmarks/hw_sizing.md)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="resnet18,mobilenet_v2,mnist1d_cnn")
    ap.add_argument("--data-workload", default="mnist1d_cnn", help="(c) runs on it ('' : none)")
    ap.add_argument("--space", default="codesign/hw_models/spaces/eyeriss_space.yaml")
    ap.add_argument("--pop-size", type=int, default=32)
    ap.add_argument("--generations", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mapper-samples", type=int, default=200)
    ap.add_argument("--mapper-refine-rounds", type=int, default=1)
    ap.add_argument("--finetune-top", type=int, default=6)
    ap.add_argument("--finetune-steps", type=int, default=300)
    ap.add_argument("--supernet-steps", type=int, default=None)
    ap.add_argument("--iso-pp", type=float, default=0.5, help="iso-accuracy tolerance, pp")
    ap.add_argument("--weights", default=None, help="(c): base weights instead of training")
    ap.add_argument(
        "--compare-outer",
        default="resnet18",
        help="workload of the one-search / outer-loop comparison ('': none)",
    )
    ap.add_argument("--inner-generations", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results-dir", default="/tmp/codesign-hw-sizing")
    args, argv = parse(ap, argv)
    set_threads(args.threads)
    root = Path(__file__).resolve().parents[1]
    space_path = Path(args.space) if Path(args.space).is_absolute() else root / args.space
    space = load_hw_space(space_path)
    max_area = space.base_area_mm2
    # w8a8 variants: the datapath stays 8 bits wide (a max_bits gene would offer nothing)
    kept = [i for i, n in enumerate(space.names) if n != "max_bits"]
    space8 = replace(
        space,
        base=w8a8(space.base),
        names=tuple(space.names[i] for i in kept),
        values=tuple(space.values[i] for i in kept),
        _points={},
    )
    mapper = MapperSettings(samples=args.mapper_samples, refine_rounds=args.mapper_refine_rounds)
    cache = Path(args.results_dir) / "cache"
    table = Table(
        title=f"Best EDP on the Eyeriss space at <= {max_area:.3f} mm2 (eyeriss.yaml's area), "
        "against eyeriss.yaml at w8a8 with its best mapping"
    )
    for col in ("workload", "variant", "EDP uJ*ms", "x vs eyeriss", "hardware", "area mm2"):
        left = col in ("workload", "variant", "hardware")
        table.add_column(col, justify="left" if left else "right", no_wrap=col != "hardware")
    for col in ("bits", "evaluated", "hw points", "wall s", "evals/s"):
        table.add_column(col, justify="left" if col == "bits" else "right")
    common = dict(
        mapper=mapper,
        cache=cache,
        pop=args.pop_size,
        gens=args.generations,
        seed=args.seed,
        max_area=max_area,
    )
    for name in [w for w in args.workloads.split(",") if w]:
        wl = get_workload(name)
        graph = extract(wl.build(), wl.example_input(), name)
        rows = {
            "eyeriss.yaml, mapping searched": search(
                space8, graph, fixed_mapping=False, sizing=False, **common
            ),
            "(a) sizing only": search(space8, graph, fixed_mapping=True, sizing=True, **common),
            "(b) sizing + mapping": search(
                space8, graph, fixed_mapping=False, sizing=True, **common
            ),
        }
        if name == args.data_workload:
            row, _, _ = iso_accuracy_run(args, space_path, max_area)
            if row is not None:
                rows["(c) + mixed precision, iso-acc."] = row
        ref = rows["eyeriss.yaml, mapping searched"]["edp"]
        for variant, r in rows.items():  # as each workload ends (the table comes at the end)
            print(f"{name}: {variant}: EDP {r['edp']:.4g} uJ*ms, x{ref / r['edp']:.2f}, "
                  f"{r['evaluated']} evaluated, {r['points']} hw points, {r['wall']:.1f} s",
                  flush=True)  # fmt: skip
        for variant, r in rows.items():
            table.add_row(
                name,
                variant,
                f"{r['edp']:.4g}",
                f"{ref / r['edp']:.2f}",
                _hw(r["hardware"]),
                f"{r['area']:.3f}",
                r["bits"],
                str(r["evaluated"]),
                str(r["points"]),
                f"{r['wall']:.1f}",
                f"{r['evaluated'] / max(r['wall'], 1e-9):.1f}",
            )
    table.caption = (
        f"NSGA-II, {args.pop_size} x {args.generations} generations, seed {args.seed}; mapper "
        f"{args.mapper_samples} samples, {args.mapper_refine_rounds} refine rounds; area from "
        f"{space.components.name}; x = reference EDP / variant EDP (NAAS: (b) 1.4-3.5x (a), "
        "4.4x Eyeriss)"
    )
    tables = [table] if args.workloads else []
    if args.compare_outer:
        tables.append(_outer_table(args, space8, common))
    # the comparison alone (no --workloads) has a block of its own on the page
    block = None if args.workloads else "outer"
    show(
        console(),
        *tables,
        reproduce=command("bench_hw_sizing.py", argv),
        page="hw_sizing",
        block=block,
    )


def _outer_table(args, space8, common) -> Table:  # noqa: ANN001
    """The one search against the outer hardware loop, on `--compare-outer`'s workload."""
    from _common import hypervolumes

    wl = get_workload(args.compare_outer)
    graph = extract(wl.build(), wl.example_input(), wl.name)
    one, outer = one_vs_outer(space8, graph, inner_gens=args.inner_generations, **common)
    hv = hypervolumes([one[0], outer[0]])
    t = Table(
        title=f"{args.compare_outer} at w8a8: hardware genes in one search, or an outer loop "
        "over hardware points (each its own mapping search), for the same wall time"
    )
    for col in ("approach", "front points", "hypervolume", "evaluated", "hw points", "wall s"):
        t.add_column(col, justify="left" if col == "approach" else "right")
    for name, (F, n, pts, wall), h in (
        ("one search (hardware genes)", one, hv[0]),
        (f"outer loop ({args.inner_generations} inner generations)", outer, hv[1]),
    ):
        t.add_row(name, str(len(F)), f"{h:.4f}", str(n), str(pts), f"{wall:.1f}")
    t.caption = (
        "energy, latency, area (<= eyeriss.yaml's); hypervolume over both fronts, each "
        "objective scaled between their best and worst"
    )
    return t


if __name__ == "__main__":
    main()
