"""codesign's spatial cost model and mapper side by side with ZigZag, layer by layer.

Same layers (ResNet-18's distinct convolutions, or with ``--net mobilenetv2`` eight of
MobileNetV2's: the stem, four pointwise and two depthwise layers, and a 3x3 convolution of
64 -> 96 channels at 28x28), same hardware (hw_models/eyeriss.yaml, translated into ZigZag's
terms), 8-bit weights and activations, 16-bit partial sums. A depthwise layer's channels,
which codesign runs in its K loop, are ZigZag's groups G (its K and C are 1):

(a) fixed mappings: codesign's min-EDP mapping of each layer is handed to ZigZag (same
    spatial unrolling, same loop order; where that mapping pads a channel loop, which a
    pinned ZigZag nest cannot, the first kept mapping that does not, and the row says so);
    per layer both tools' energy and latency and their ratio, with the component that
    differs most and why when they differ by more than 10%;
(b) both mappers free: codesign's best energy vs ZigZag's best (spatial and temporal search);
    codesign's mapper here also gets the "unconstrained" dataflow (no stationarity rule),
    since ZigZag's free search has none either; and ZigZag's chosen mapping priced in
    codesign's model, which compares the two searches in one model. These are min-energy
    mappings because ZigZag's search here optimises energy: the like-for-like comparison;
(c) speed: codesign maps and prices all layers at all nine (2/4/8 x 2/4/8) precision pairs
    (the least of ``--repeats`` runs, in-process cache cleared), ZigZag maps one precision;
    both timed in this run, side by side;
(d) latency: codesign's min-latency kept mapping vs ZigZag's free search with
    optimize=latency, each in its own latency model;
(e) codesign's kept mappings at w8a8, min EDP first (the one to take when both energy and
    latency matter), then min energy (the fastest mapping within 0.5 % of the least
    energy, or within 2 % when it runs twice as fast: `mapping.mapper.ENERGY_TIE`) and min
    latency.

ZigZag (PyPI zigzag-dse, with six) is never a codesign dependency. Install it in a virtual
environment of its own (pip install "codesign[zigzag]" also works where its pins agree):
    python -m venv /work/zz-venv && /work/zz-venv/bin/pip install zigzag-dse six

Reproduce:  python benchmarks/bench_zigzag.py [--zigzag-python /work/zz-venv/bin/python]
            [--net resnet18|mobilenetv2] [--layers conv3_ds,...] [--repeats 3]
            [--without-zigzag] (codesign's columns only)
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import re
import time

import mobilenetv2  # benchmarks/mobilenetv2.py and resnet18.py, beside this file
import numpy as np
import resnet18
from _common import BENCH, ZIGZAG, command, console, parse, set_threads, show
from rich.table import Table

from codesign.core.types import LayerSpec, OpKind
from codesign.cost.nest import DIMS, ORDERS, Mappings, loop_bounds
from codesign.cost.spatial import evaluate, fill_cuts, traffic
from codesign.hw import load_hardware
from codesign.mapping import mapper
from codesign.mapping.space import array_sides

RUNNER = BENCH / "zigzag" / "run_zigzag.py"

# why the two models knowingly differ, by the component that differs most
REASONS = {
    "dram": "off-chip traffic: codesign keeps the input rows consecutive tiles share (sliding "
    "window), ZigZag fetches them again; ZigZag's greedy allocator places the loops in memory "
    "levels itself (only the order is pinned) and counts W/I as already in DRAM",
    "glb": "global buffer: ZigZag's input tiles have no sliding-window reuse between tiles "
    "and it rounds transfers up to whole words per period",
    "rf": "register files: without mac.input_registers codesign reads every operand each "
    "MAC, where ZigZag reads a reused weight or input once per run; and ZigZag counts fewer "
    "partial-sum reads out of the PEs for a spatial reduction",
    "mac": "MAC energy: ZigZag charges padded (under-utilised) MACs, codesign only real ones",
    "latency": "latency: ZigZag adds stall, on-loading and off-loading cycles; codesign "
    "assumes perfect double buffering (max of compute and transfer time)",
}


# why ZigZag's mapping of a layer may not fit codesign's global buffer
NO_FIT = (
    "does not fit: ZigZag sizes partial sums in the global buffer at the final output width "
    "once no reduction loop sits above that level; codesign at the partial-sum width"
)


def zigzag_accelerator(hw) -> dict:  # noqa: ANN001
    """hw_models/eyeriss.yaml in the runner's terms (costs per access of the port width)."""
    rf, glb, dram = hw.memories
    mems = []
    for op, bits in (("W", 8), ("I", 8), ("O", hw.psum_bits)):
        cap = rf.capacity_bits["WIO".index(op)]
        mems.append(
            {
                "name": f"rf_{op.lower()}",
                "size_bits": cap,
                "r_bw": bits,
                "w_bw": bits,
                "r_cost_pj": rf.access_pj_per_bit * bits,
                "w_cost_pj": rf.access_pj_per_bit * bits,
                "operands": [op],
                "served_dims": [],
            }
        )
    for m, ports in ((glb, "separate"), (dram, "rw")):
        bw = m.bandwidth_bits_per_cycle
        mems.append(
            {
                "name": m.name.lower(),
                "size_bits": m.capacity_bits[0],
                "r_bw": bw,
                "w_bw": bw,
                "min_r_bw": 8,
                "min_w_bw": 8,
                "r_cost_pj": m.access_pj_per_bit * bw,
                "w_cost_pj": m.access_pj_per_bit * bw,
                "operands": ["W", "I", "O"],
                "served_dims": ["D1", "D2"],
                "ports": ports,
            }
        )
    return {
        "name": hw.name,
        "pe_array": {"D1": hw.rows, "D2": hw.cols},
        "mac_energy_pj": hw.mac_energy_pj[-1][-1],
        "precision": {"W": 8, "I": 8, "O": hw.psum_bits, "O_final": 8},
        "memories": mems,
    }


def zigzag_mapping(spec: LayerSpec, hw, m, i: int) -> dict:  # noqa: ANN001
    """Mapping i of `m` (of layer `spec` on `hw`) as the runner's spatial unrolling + explicit
    temporal order."""
    groups = spec.kind == OpKind.DWCONV
    sides = array_sides(m.names[int(m.dataflow[i])], m.spatial[i], hw.rows, hw.cols, groups)
    if sides is None:
        raise ValueError(f"{spec.name}: mapping {i}'s unrolling does not fit {hw.name}'s array")
    rows, cols = sides
    names = zigzag_dims(spec)
    spatial = {
        "D1": [[names[d], f] for d, f in rows.items()],
        "D2": [[names[d], f] for d, f in cols.items()],
    }
    order = []
    for lv in (0, 1, 2):
        for d in ORDERS[int(m.order[i, lv])][1]:
            if m.temporal[i, d, lv] > 1:
                order.append([names[d], int(m.temporal[i, d, lv])])
    return {"spatial": {k: v for k, v in spatial.items() if v}, "temporal_ordering": order}


def zigzag_dims(spec: LayerSpec) -> tuple[str, ...]:
    """ZigZag's names of codesign's six loop dims (`DIMS`) of `spec`: a depthwise layer's
    channels, which codesign runs in K (one input channel per group), are ZigZag's groups G
    (its K and C are 1)."""
    if spec.kind == OpKind.GCONV:
        raise ValueError(f"{spec.name}: grouped convolutions are not translated for ZigZag")
    return ("G", *DIMS[1:]) if spec.kind == OpKind.DWCONV else DIMS


# ZigZag's loop dims as codesign's (`DIMS` index): its groups G run in codesign's K (a
# depthwise layer's channels); its batch B is 1 here, and none other exists in these layers
_FROM_ZIGZAG = {**{d: i for i, d in enumerate(DIMS)}, "G": DIMS.index("K")}


def _dim(name: str) -> int | None:
    """codesign's dim index of ZigZag's loop dim `name` (None for its batch of 1)."""
    if name == "B":
        return None
    if name not in _FROM_ZIGZAG:
        raise ValueError(f"ZigZag loop dim {name!r} has no counterpart in codesign's loop nest")
    return _FROM_ZIGZAG[name]


def _loops(text: str) -> list[tuple[int, int]]:
    """ZigZag's "OY14 FY3 K8" (G for groups) as [(codesign's dim index, factor), ...]."""
    found = [(_dim(d), int(f)) for d, f in re.findall(r"([A-Z]+)(\d+)", text)]
    return [(d, f) for d, f in found if d is not None]


def from_zigzag(spec: LayerSpec, hw, zz: dict) -> Mappings:  # noqa: ANN001
    """ZigZag's chosen mapping of `spec` (its "mapping" output) as codesign mappings: the same
    spatial unrolling and the same loop factors in the same memory levels, under every
    combination of codesign's loop orders (one per level), tiles grown by `fill_cuts`. A loop
    sits in codesign's per-PE level when every operand's register file holds it, in the buffer level
    when every operand's global buffer does, else off-chip."""
    bounds = loop_bounds(spec)[0]
    sp = np.ones(6, dtype=np.int64)
    for side in zz["spatial"].values():
        for name, f in re.findall(r"([A-Z]+):([\d.]+)", side):
            d = _dim(name)
            if d is not None:
                sp[d] *= math.ceil(float(f) - 1e-9)
    sp = np.minimum(sp, bounds)
    nest = _loops(zz["loop_order_innermost_first"])
    ends = [[], []]  # per operand: loops up to the top of its RF, of its global buffer
    for levels in zz["temporal"].values():
        counts = [len(_loops(v)) for v in levels.values()]
        ends[0].append(counts[0])
        ends[1].append(counts[0] + counts[1])
    e0, e1 = min(ends[0]), min(ends[1])
    t = np.ones((6, 3), dtype=np.int64)
    for pos, (d, f) in enumerate(nest):
        t[d, 0 if pos < e0 else 1 if pos < e1 else 2] *= f
    n = len(ORDERS) ** 3
    orders = np.array(list(itertools.product(range(len(ORDERS)), repeat=3)))
    m = Mappings(
        np.repeat(sp[None], n, axis=0),
        np.repeat(t[None], n, axis=0),
        orders,
        np.zeros(n, dtype=np.int64),
        ("ZigZag's",),
    )
    return fill_cuts(spec, hw, m, 8, 8)


NETS = {"resnet18": resnet18.layers, "mobilenetv2": mobilenetv2.layers}


def zigzag_layer(spec: LayerSpec) -> dict:
    """`spec` (a convolution of one image) in the runner's terms; a depthwise layer's
    channels are ZigZag's groups G, with K = C = 1 (`zigzag_dims`)."""
    names = zigzag_dims(spec)
    b, sy, _, _ = loop_bounds(spec)
    doc = {names[d]: int(b[d]) for d in range(6)}
    if "G" in doc:
        doc.update(K=1, C=1)
    _, _, iy, ix = spec.input_shape
    return {"name": spec.name, **doc, "stride": sy, "padding": spec.padding[0], "IX": ix, "IY": iy}


def pads(spec: LayerSpec, m, i: int) -> str:  # noqa: ANN001
    """'' when mapping i of `m` runs each loop over ceil(bound / its unrolling) iterations, as
    ZigZag takes a pinned loop nest; else the first loop it pads ("K 96 -> 112")."""
    bounds = loop_bounds(spec)[0]
    for d in range(6):
        runs = int(m.spatial[i, d]) * int(m.temporal[i, d].prod())
        if -(-int(bounds[d]) // int(m.spatial[i, d])) != int(m.temporal[i, d].prod()):
            return f"{DIMS[d]} {int(bounds[d])} -> {runs}"
    return ""


def pinned(spec: LayerSpec, lm, a: int, w: int) -> tuple[int, str]:  # noqa: ANN001
    """The kept mapping of `lm` at bit indices (a, w) handed to ZigZag in (a): the min-EDP
    one, else (when it pads a loop, which ZigZag's pinned nests cannot) the first of min
    energy, min latency and other dataflow that does not; with a note saying so ('' for
    min EDP)."""
    order = (2, 0, 1, 3)  # `mapper.KEEP` indices: min EDP, min energy, min latency, other
    edp = int(lm.index[a, w, 2])
    why = pads(spec, lm.mappings, edp)
    if not why:
        return edp, ""
    for k in order[1:]:
        i = int(lm.index[a, w, k])
        if not pads(spec, lm.mappings, i):
            return i, f"pinned: {mapper.KEEP[k]} (min EDP pads {why})"
    return edp, f"pinned: min EDP, which pads {why}"


def kept_table(specs: list[LayerSpec], hw, kept: dict, a: int, w: int) -> Table:  # noqa: ANN001
    """(e) the mapper's kept picks of each layer at activation / weight bit indices (a, w),
    min EDP first (the one a user who weighs both would take): energy, latency, PEs."""
    t = Table(
        title="(e) codesign's kept mappings at w8a8 (the file's dataflows): min EDP, min "
        "energy (the fastest within 0.5 % of the least energy, or within 2 % when twice as "
        "fast), min latency"
    )
    for c in ("layer", "EDP uJ", "EDP kcyc", "EDP PEs", "E uJ", "E kcyc", "E PEs", "L uJ",
              "L kcyc", "E kcyc / L kcyc"):  # fmt: skip
        t.add_column(c, justify="left" if c == "layer" else "right")
    for s in specs:
        lm = kept[s.name]
        cells = [s.name]
        for k in (2, 0, 1):  # KEEP: min energy, min latency, min EDP, other dataflow
            i = int(lm.index[a, w, k])
            cells += [f"{lm.energy_pj[a, w, k] / 1e6:.2f}", f"{lm.cycles[a, w, k] / 1e3:.1f}"]
            if k != 1:
                cells.append(f"{int(lm.mappings.spatial[i].prod())}")
        cells.append(f"{lm.cycles[a, w, 0] / lm.cycles[a, w, 1]:.2f}")
        t.add_row(*cells)
    return t


def map_all(specs: list[LayerSpec], hw, repeats: int) -> tuple[dict, float]:  # noqa: ANN001
    """(the mapper's kept mappings of each layer of `specs` on `hw`, the least wall seconds
    of `repeats` runs of mapping them all, the in-process cache cleared before each)."""
    best = math.inf
    for _ in range(max(1, repeats)):
        mapper.clear_memory_cache()
        t0 = time.perf_counter()
        kept = {s.name: mapper.map_layer(s, hw) for s in specs}
        best = min(best, time.perf_counter() - t0)
    return kept, best


def run_zigzag(python: str | None, cfg: dict) -> tuple[dict, float]:
    """Run the ZigZag runner on `cfg`; returns (its output, wall seconds); with no `python`
    (--without-zigzag), no layers and no time."""
    if python is None:
        return {"layers": []}, float("nan")
    out, wall = ZIGZAG.run_json(python, RUNNER, cfg)
    if "error" in out:
        raise SystemExit(f"ZigZag {out['error']}")
    return out, wall


def main(argv: list[str] | None = None) -> None:
    """Print the five tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ZIGZAG.add_arguments(ap)
    ap.add_argument("--hw", default="eyeriss", help="a bundled name or a hardware file")
    ap.add_argument(
        "--net",
        choices=sorted(NETS),
        default="resnet18",
        help="the layers: ResNet-18's 11 distinct convolutions, or 8 of MobileNetV2's "
        "(stem, pointwise, depthwise, and a 3x3 of 64 -> 96 channels)",
    )
    ap.add_argument("--layers", default="", help="comma-separated names (default: all)")
    ap.add_argument(
        "--repeats", type=int, default=3, help="codesign's mapping time: the least of N runs"
    )
    args, argv = parse(ap, argv)
    set_threads(1)
    con = console(200)
    python = ZIGZAG.python(args, con)
    hw = load_hardware(args.hw)
    specs = NETS[args.net]()
    block = None if args.net == "resnet18" else args.net  # each net its own block of the page
    if args.layers:
        specs = [s for s in specs if s.name in args.layers.split(",")]
    # (c) our speed: map + price every layer at all 9 precision pairs, cache cleared; the
    # least of --repeats runs (the machine may be busy)
    free_hw = dataclasses.replace(hw, dataflows=(*hw.dataflows, "unconstrained"))
    kept, ours_s = map_all(specs, hw, args.repeats)
    kept_free, ours_free_s = map_all(specs, free_hw, args.repeats)
    a8 = hw.act_bits.index(8)
    w8 = hw.weight_bits.index(8)
    fixed, pinned_note = {}, {}
    for s in specs:
        fixed[s.name], pinned_note[s.name] = pinned(s, kept[s.name], a8, w8)
    per_layer = {s.name: zigzag_mapping(s, hw, kept[s.name].mappings, fixed[s.name]) for s in specs}
    base = {
        "accelerator": zigzag_accelerator(hw),
        "layers": [zigzag_layer(s) for s in specs],
    }
    zz_fixed, _ = run_zigzag(
        python,
        {
            **base,
            "mapping": {
                "spatial": per_layer[specs[0].name]["spatial"],
                "per_layer": per_layer,
                "modes": ["fixed"],
            },
        },
    )
    zz_free, zz_free_s = run_zigzag(python, {**base, "mapping": None})
    zz_lat, _ = run_zigzag(python, {**base, "mapping": None, "zigzag": {"optimize": "latency"}})
    zl = {lay["name"]: lay.get("free", {}) for lay in zz_lat["layers"]}
    zz = {lay["name"]: lay for lay in zz_fixed["layers"]}
    zf = {lay["name"]: lay for lay in zz_free["layers"]}

    model_ratio: dict[str, float] = {}
    ta = Table(title=f"(a) fixed mappings (codesign's min-EDP mapping at w8a8) on {hw.name}")
    for c in (
        "layer",
        "E codesign uJ",
        "E ZigZag uJ",
        "E ratio",
        "lat codesign kcyc",
        "lat ZigZag kcyc",
        "lat ratio",
        "within 10%? / why not",
    ):
        ta.add_column(c, justify="left" if c in ("layer", "within 10%? / why not") else "right")
    for s in specs:
        lm = kept[s.name]
        i = fixed[s.name]
        m1 = lm.mappings.take(np.array([i]))
        c = evaluate(s, hw, m1, 8, 8, traffic(s, m1, hw.input_registers))
        r = zz.get(s.name, {}).get("fixed", {})
        if "energy_pj" not in r:
            ta.add_row(
                s.name,
                f"{c.energy_pj[0] / 1e6:.2f}",
                "failed" if s.name in zz else "not run",
                "",
                f"{c.cycles[0] / 1e3:.1f}",
                "",
                "",
                r.get("error", "")[:60],
            )
            continue
        e_ratio = c.energy_pj[0] / r["energy_pj"]
        model_ratio[s.name] = e_ratio
        l_ratio = c.cycles[0] / r["latency_cycles"]
        ours_parts = {
            "rf": c.level_pj[0, 0],
            "glb": c.level_pj[0, 1],
            "dram": c.level_pj[0, 2],
            "mac": c.mac_pj[0],
        }
        pm = r["energy_breakdown_pj"]["per_memory"]
        theirs = {
            "rf": sum(v for k, v in pm.items() if k.startswith("rf_")),
            "glb": pm.get(hw.memories[1].name.lower(), 0.0),
            "dram": pm.get(hw.memories[2].name.lower(), 0.0),
            "mac": r["energy_breakdown_pj"]["mac"],
        }
        why = []
        if abs(e_ratio - 1) > 0.10:
            worst = max(ours_parts, key=lambda k: abs(ours_parts[k] - theirs[k]))
            why.append(REASONS[worst])
        if abs(l_ratio - 1) > 0.10:
            why.append(REASONS["latency"])
        if not why:
            why.append("yes")
        ta.add_row(
            s.name,
            f"{c.energy_pj[0] / 1e6:.2f}",
            f"{r['energy_pj'] / 1e6:.2f}",
            f"{e_ratio:.2f}",
            f"{c.cycles[0] / 1e3:.1f}",
            f"{r['latency_cycles'] / 1e3:.1f}",
            f"{l_ratio:.2f}",
            "; ".join([*why, pinned_note[s.name]] if pinned_note[s.name] else why),
        )
    tb = Table(title="(b) both mappers free: best energy per layer at w8a8")
    for c in (
        "layer",
        "codesign best uJ",
        "ZigZag best uJ",
        "codesign / ZigZag",
        "ZigZag's mapping in codesign's model uJ",
        "codesign best / that",
    ):
        tb.add_column(c, justify="right")
    wins = same_model_wins = comparable = 0
    for s in specs:
        ours = kept_free[s.name].energy_pj[a8, w8, 0]
        if s.name not in zf:
            tb.add_row(s.name, f"{ours / 1e6:.2f}", "not run", "", "", "")
            continue
        r = zf[s.name].get("free", {})
        theirs = r.get("energy_pj", float("nan"))
        if "mapping" in r:  # ZigZag's loop nest, priced by codesign (its best loop orders)
            c = evaluate(s, free_hw, from_zigzag(s, free_hw, r["mapping"]), 8, 8)
            theirs_here = float(np.where(c.valid, c.energy_pj, np.inf).min())
        else:
            theirs_here = float("nan")
        wins += ours <= theirs
        fits = bool(np.isfinite(theirs_here))
        comparable += fits
        same_model_wins += fits and ours <= theirs_here
        tb.add_row(
            s.name,
            f"{ours / 1e6:.2f}",
            f"{theirs / 1e6:.2f}",
            f"{ours / theirs:.3f}",
            f"{theirs_here / 1e6:.2f}" if fits else "does not fit (*)",
            f"{ours / theirs_here:.3f}" if fits else "",
        )
    td = Table(title="(d) latency-optimal mappings per layer at w8a8, each tool in its own model")
    for c in ("layer", "codesign kcyc", "codesign + unc kcyc", "ZigZag kcyc", "codesign / ZigZag",
              "MAC floor kcyc", "ZigZag's stall + on/off-load kcyc"):  # fmt: skip
        td.add_column(c, justify="right")
    lat_wins = 0
    for s in specs:
        o = kept[s.name].cycles[a8, w8, 1]
        of = kept_free[s.name].cycles[a8, w8, 1]
        r = zl.get(s.name, {})
        if "latency_cycles" not in r:
            why = "failed" if s.name in zl else "not run"
            td.add_row(s.name, f"{o / 1e3:.1f}", f"{of / 1e3:.1f}", why, "", "", "")
            continue
        lb = r.get("latency_breakdown_cycles", {})
        extra = r["latency_cycles"] - lb.get("ideal_temporal_cycle", r["latency_cycles"])
        lat_wins += min(o, of) <= r["latency_cycles"]
        td.add_row(
            s.name, f"{o / 1e3:.1f}", f"{of / 1e3:.1f}", f"{r['latency_cycles'] / 1e3:.1f}",
            f"{min(o, of) / r['latency_cycles']:.3f}", f"{s.macs / hw.num_pes / 1e3:.1f}",
            f"{extra / 1e3:.1f}",
        )  # fmt: skip
    te = kept_table(specs, hw, kept, a8, w8)
    tc = Table(title=f"(c) mapping + pricing time, the {len(specs)} layers of {args.net}")
    for c in ("tool", "precision pairs", "wall s", "speed-up"):
        tc.add_column(c, justify="right")
    tc.add_row(
        "ZigZag (spatial + LOMA search)", "1", f"{zz_free_s:.1f}" if python else "not run", "1x"
    )

    def speed_up(ours: float) -> str:
        return f"{zz_free_s / ours:,.0f}x" if python else ""

    tc.add_row("codesign mapper, the file's dataflows", "9", f"{ours_s:.2f}", speed_up(ours_s))
    tc.add_row("codesign mapper, + unconstrained", "9", f"{ours_free_s:.2f}", speed_up(ours_free_s))
    show(con, ta, tb, page="zigzag", block=block)
    con.print(
        f"codesign's best energy <= ZigZag's best on {wins} of {len(specs)} layers, each tool "
        f"pricing its own; <= ZigZag's mapping priced in one model (codesign's) on "
        f"{same_model_wins} of the {comparable} where that mapping fits codesign's buffers"
    )
    if python and comparable < len(specs):
        con.print(f"(*) {NO_FIT}")
    show(con, td, te, page="zigzag", block=block)
    con.print(
        f"codesign's best latency <= ZigZag's latency-optimal search on {lat_wins} of "
        f"{len(specs)} layers. The latency models differ: codesign takes the slowest of the "
        "MACs and each memory's transfers (perfect double buffering); ZigZag adds the stalls "
        "of memory ports that cannot keep up, and the cycles to load the first tiles and "
        "drain the last outputs (its on- and off-loading)."
    )
    show(con, tc, page="zigzag", block=block)
    print(f"ZigZag {zz_fixed.get('zigzag_version', 'not run')}")
    show(con, reproduce=command("bench_zigzag.py", argv), page="zigzag", block=block)


if __name__ == "__main__":
    main()
