"""codesign's mapper side by side with AccelForge's (the optimal FFM mapper), layer by layer.

Same layers (ResNet-18's distinct convolutions, benchmarks/resnet18.py, plus a stride-1
pointwise and two depthwise layers of MobileNet-V1's shape), same hardware
(hw_models/eyeriss.yaml translated into AccelForge's terms by `accelforge_arch`, the MAC's
input registers off on both sides unless ``--registers``), at w8a8 and w4a4
(``--precisions``). Per layer and precision: each tool's best (minimum) energy,
the latency of that mapping, their ratios, the component (RF / GLB / DRAM / MAC) whose
energy differs most, and both wall times. codesign's mapper gets the file's dataflows, and
in a second column also "unconstrained" (no stationarity rule), closer to AccelForge's free
mapspace. AccelForge optimises energy only, so the latency it reports is that of an
energy-optimal mapping, not its best latency.

AccelForge (PyPI accelforge, Python >= 3.12) is never a codesign dependency. Install it in a
virtual environment of its own:
    ~/.pyenv/versions/3.12.1/bin/python -m venv /work/af-venv
    /work/af-venv/bin/pip install accelforge
and the Debian package graphviz (its mapper renders each chosen mapping with `dot`).
benchmarks/accelforge/run_accelforge.py runs inside that environment (JSON in, JSON out),
one layer at a time, one thread. Its results are cached under results/bench_accelforge/,
keyed by layer, precision, a hash of the hardware translation and the AccelForge version,
so a second run only prints (a 3x3 convolution takes AccelForge 15 minutes and more on one
core); ``--af-budget-min`` stops starting new AccelForge runs after that many minutes.

Reproduce:  python benchmarks/bench_accelforge.py [--accelforge-python /work/af-venv/bin/python]
                [--layers conv3_ds,mbv1_dw] [--precisions 8x8,4x4] [--af-budget-min 75]
                [--seeds 3] (worst of mapper seeds 0-2) [--without-accelforge] [--cache DIR]

Semantics matched, and not
--------------------------
Matched by construction:
- access units: every AccelForge action moves one bit (bits_per_action 1) at the file's
  pJ/bit, so energy = bits moved x pJ/bit, as in codesign; narrow tensors move fewer bits
  (AccelForge's bits_per_value per tensor, codesign's packed words). No CACTI or other
  component model: explicit energies, zero leakage and area.
- hierarchy: DRAM and GLB keep every tensor (eyeriss.yaml allows no bypass), per-PE register
  files one per operand with the file's capacities (RF_W, RF_I, RF_O), a 12 x 14 PE array
  whose fanouts may multicast inputs and reduce outputs (both tools treat a spatial
  reduction as free), one MAC per PE per cycle at the file's MAC energy for the precision.
- input registers (eyeriss.yaml's mac.input_registers: the multiplier keeps a reused weight
  or input, so the register file is read once per run of MACs): switched OFF on both sides
  by default, every MAC reads its weight and input from RF_W and RF_I in both tools
  (codesign's mapper runs on the hardware with input_registers=False). ``--registers``
  keeps them: codesign as in the file, AccelForge with a one-value register per weight and
  input between register file and MAC at 1e-9 pJ per access (its pruning needs a nonzero
  cost); AccelForge then takes about 3x longer (mbv1_dw at w8a8: 636 s against 221 s).
- read-modify-write: both count a partial-sum update as a read and a write; the first read
  of an output is skipped in both (AccelForge's skip_initial_output_write, codesign's
  fills - distinct tiles) at the GLB and DRAM.
- widths per memory: outputs are psum_bits (16) wide in RF and GLB and act_bits in DRAM
  (AccelForge's per-memory bits_per_value).
- latency: each memory's (read + write bits) / its bits per cycle (per PE for the register
  files), MACs per PE, and the slowest of them, i.e. perfect overlap, in both.
- strided 1x1 convolutions read every stride-th input row and column: AccelForge gets the
  subsampled input tensor, else it counts the whole bounding box of each strided tile.
Could not match (the "most different" column names the component they move; the "E cs as
AF" column prices codesign's chosen mapping with the first three of them done AccelForge's
way, in codesign's model, so that what is left between it and AccelForge's optimum is the
two mapspaces and the small differences below):
- one bit-width per tensor and memory: codesign stores outputs the PEs finish (no reduction
  loop above the PE tile) at act_bits in the GLB, partial sums at psum_bits; AccelForge
  cannot make the width depend on the mapping, so its GLB outputs are always psum_bits.
- the GLB read that drains outputs to DRAM and the GLB write of a partial sum returning from
  it are charged by both (codesign did not charge them before 2026-11-30: the fix raised
  its energies; the table was re-measured).
- zero padding: codesign moves only real input elements (padding is made where it is read);
  AccelForge's input tensor is the padded one (58 x 58 for a 56 x 56 map with padding 1).
- sliding-window reuse between tiles: AccelForge (LoopTree, as Timeloop) keeps the input
  rows two consecutive tiles share, so a band of output rows streamed through the GLB
  fetches each input row once while the GLB holds only one band (its reservation sits
  below the loop); codesign refetches a tile's halo with every tile (as ZigZag). On 3x3
  layers whose input does not fit the GLB this puts AccelForge's DRAM energy at the
  compulsory traffic and codesign's above it; "E cs as AF" does not credit it.
- register-file bandwidth: codesign shares 64 bits per cycle among the three register
  files of a PE, AccelForge gives each its own port (without input registers a MAC reads
  48 bits at w8a8, so the register files rarely bound latency in either).
- exact-division loop bounds: AccelForge's mapper (defaults kept: no imperfect loops) uses
  only factorisations that divide each rank exactly; codesign may pad a channel loop up to
  1.3x and unroll a factor that does not divide its loop (a partly idle last pass).
- minimum usage: no AccelForge min_usage constraint (0 by default, ``--min-usage``), and
  codesign's mapper also tries unrollings that leave PEs idle (beside each dataflow's greedy
  fill, its exact fill and random sub-array ones; `MapperSettings.other_unrollings`). An
  energy-optimal mapping often occupies few PEs (the "PEs" column), at a large latency cost
  (the "lat" columns): where energy does not depend on the PE count it is a tie, elsewhere
  (conv4_1) fewer PEs mean smaller per-step tiles, so the whole partial-sum tensor stays in
  the GLB.
- mapspace shape: AccelForge searches every loop order and storage placement (uneven, per
  tensor) over exact factorisations; codesign's per-level orders are six stationarity
  orders, its unrollings those of the file's dataflows (or four "unconstrained" ones), and
  its search samples and refines rather than enumerates.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import subprocess
import time
from pathlib import Path

import numpy as np
from _common import (
    ACCELFORGE,
    BENCH,
    RESULTS,
    command,
    console,
    parse,
    print_reproduce,
    set_threads,
    write_doc_page,
)
from resnet18 import RESNET18, conv_row  # benchmarks/resnet18.py, beside this file
from rich.table import Table

from codesign.core.types import LayerSpec, MapperSettings, OpKind
from codesign.cost.nest import loop_bounds
from codesign.cost.spatial import evaluate, traffic
from codesign.hw import load_hardware
from codesign.mapping import mapper

RUNNER = BENCH / "accelforge" / "run_accelforge.py"
FORMAT = 1  # bump when the runner's translation of a layer or the hardware changes

# MobileNet-V1 (Howard et al. 2017) at 224x224: a pointwise and two depthwise layers
# name, K, C per group, OY=OX, F, stride, padding, input size, depthwise
EXTRA = [
    ("mbv1_pw", 128, 64, 56, 1, 1, 0, 56, False),
    ("mbv1_dw", 128, 1, 56, 3, 1, 1, 56, True),
    ("mbv1_dw_s2", 128, 1, 28, 3, 2, 1, 56, True),
]


def all_layers() -> list[LayerSpec]:
    """ResNet-18's distinct convolutions, then the extra pointwise and depthwise layers."""
    out = [conv_row(*row) for row in RESNET18]
    for name, k, c, o, f, st, p, i, dw in EXTRA:
        out.append(
            LayerSpec.square_conv(
                name, k, c, out=o, filt=f, stride=st, pad=p, inp=i, groups=k if dw else 1
            )
        )
    return out


def accelforge_arch(hw, input_registers: bool | None = None, min_usage: float = 0.0) -> dict:  # noqa: ANN001
    """hw (a SpatialHardware, eyeriss.yaml) in the runner's terms: energies per bit, port
    widths per cycle, one register file per operand in each PE."""
    rf, glb, dram = hw.memories
    if rf.shared:
        raise SystemExit(f"{hw.name}: a shared per-PE memory has no per-operand translation")
    if any(any(m.bypass) for m in hw.memories):
        raise SystemExit(f"{hw.name}: optional bypasses are not translated")
    roles = ("weight", "input", "output")
    mems = []
    for m in (dram, glb):
        mems.append(
            {
                "name": m.name,
                "per_pe": False,
                "size_bits": None if m is dram else float(m.capacity_bits[0]),
                "tensors": [r for r, h in zip(roles, m.holds) if h],
                "pj_per_bit": m.access_pj_per_bit,
                "bits_per_cycle": m.bandwidth_bits_per_cycle,
                # finished outputs leave at the activation width ("act" is filled per layer)
                "bits_per_value": {"output": "act" if m is dram else hw.psum_bits},
            }
        )
    for x, role in enumerate(roles):
        if rf.capacity_bits[x] == 0 or not rf.holds[x]:
            continue
        mem = {
            "name": f"{rf.name}_{'WIO'[x]}",
            "per_pe": True,
            "size_bits": float(rf.capacity_bits[x]),
            "tensors": [role],
            "pj_per_bit": rf.access_pj_per_bit,
            "bits_per_cycle": rf.bandwidth_bits_per_cycle,
        }
        if role == "output":
            mem["bits_per_value"] = {"output": hw.psum_bits}
        mems.append(mem)
    return {
        "name": hw.name,
        "pe_array": {"rows": hw.rows, "cols": hw.cols},
        "spatial_min_usage": min_usage,
        "memories": mems,
        "input_registers": hw.input_registers if input_registers is None else input_registers,
        # per-precision MAC energy and throughput are filled per layer
        "mac": {"pj": None, "macs_per_cycle": None},
    }


def arch_for(arch: dict, hw, a: int, w: int) -> dict:  # noqa: ANN001
    """`arch` at precision (a, w): MAC energy and throughput, DRAM output width."""
    ai, wi = hw.act_bits.index(a), hw.weight_bits.index(w)
    out = json.loads(json.dumps(arch))
    out["mac"] = {
        "pj": hw.mac_energy_pj[ai][wi],
        "macs_per_cycle": hw.macs_per_pe_per_cycle[ai][wi],
    }
    for m in out["memories"]:
        bpv = m.get("bits_per_value", {})
        for k, v in bpv.items():
            if v == "act":
                bpv[k] = a
    return out


def layer_doc(spec: LayerSpec, a: int, w: int) -> dict:
    """One layer in the runner's terms: loop bounds, stride, padding, one width per tensor."""
    b, sy, sx, dw = loop_bounds(spec)
    return {
        "name": spec.name,
        "K": int(b[0]),
        "C": int(b[1]),
        "OY": int(b[2]),
        "OX": int(b[3]),
        "FY": int(b[4]),
        "FX": int(b[5]),
        "stride": [sy, sx],
        "padding": list(spec.padding),
        "depthwise": bool(dw),
        "bits": {"weight": w, "input": a, "output": a},
    }


def af_version(python: str) -> str:
    """The installed AccelForge version, without importing it (package metadata only)."""
    code = "from importlib.metadata import version; print(version('accelforge'))"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def job_key(arch: dict, mapper_cfg: dict, layer: dict, version: str) -> str:
    """Cache file name of one AccelForge run."""
    doc = {"arch": arch, "mapper": mapper_cfg, "layer": layer, "format": FORMAT}
    h = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]
    bits = layer["bits"]
    metric = "" if mapper_cfg.get("metrics", "energy") == "energy" else f"_{mapper_cfg['metrics']}"
    return f"{layer['name']}_w{bits['weight']}a{bits['input']}{metric}_{h}_af{version}.json"


def run_accelforge(python: str, cfg: dict, timeout_s: float) -> tuple[dict, float]:
    """Run the runner on `cfg` (one layer); returns (its layer record, wall seconds)."""
    out, wall = ACCELFORGE.run_json(python, RUNNER, cfg, timeout_s)
    return (out if "error" in out else out["layers"][0]), wall


# the mapper's settings for --thorough: 1.5x the samples, a beam of 5 rounds (3) twice as wide,
# 8 sub-array unrollings per dataflow (4) (`codesign explore --mapper-samples 1500
# --mapper-refine-rounds 5 --mapper-refine-top 8 --mapper-partial-unrollings 8`)
# issue 30's goal for codesign's mapping priced AccelForge's way on 3x3 layers: at most this
# many times AccelForge's optimum
AS_AF_GOAL = 1.005
THOROUGH = MapperSettings(samples=1500, refine_rounds=5, refine_top=8, partial_unrollings=8)


def codesign_best(
    spec: LayerSpec, hw, a: int, w: int, kept: int = 0, settings: MapperSettings | None = None
) -> dict:  # noqa: ANN001
    """codesign's min-energy mapping of `spec` at (a, w) (min-latency with `kept` 1), with
    the mapper's `settings` (its defaults when None): energy, cycles, per-component energy,
    the mapping, wall seconds of mapping the layer (all precision pairs at once)."""
    mapper.clear_memory_cache()
    t0 = time.perf_counter()
    lm = mapper.map_layer(spec, hw, settings)
    wall = time.perf_counter() - t0
    ai, wi = hw.act_bits.index(a), hw.weight_bits.index(w)
    i = int(lm.index[ai, wi, kept])
    m1 = lm.mappings.take(np.array([i]))
    c = evaluate(spec, hw, m1, a, w)
    return {
        "energy_pj": float(lm.energy_pj[ai, wi, kept]),
        "energy_as_af_pj": priced_as_accelforge(spec, hw, m1, a, w),
        "cycles": float(lm.cycles[ai, wi, kept]),
        "parts": {
            "RF": float(c.level_pj[0, 0]),
            "GLB": float(c.level_pj[0, 1]),
            "DRAM": float(c.level_pj[0, 2]),
            "MAC": float(c.mac_pj[0]),
        },
        "pes": float(m1.spatial[0].prod()),
        "mapping": m1.describe(0),
        "wall_s": wall,
    }


def priced_as_accelforge(spec: LayerSpec, hw, m1, a: int, w: int) -> float:  # noqa: ANN001
    """codesign's energy of mapping `m1` with two of AccelForge's pricing rules it cannot be
    told: the input is the zero-padded tensor (stored and moved like real data: the same
    loop nest on a padding-free layer whose input is the padded one), and the GLB holds
    outputs at psum_bits."""
    n, ch, h, wd = spec.input_shape
    py, px = spec.padding
    padded = dataclasses.replace(spec, padding=(0, 0), input_shape=(n, ch, h + 2 * py, wd + 2 * px))
    tr = traffic(padded, m1, hw.input_registers)
    c = evaluate(padded, hw, m1, a, w, tr)
    glb = hw.memories[1].access_pj_per_bit
    o_width = a if bool(tr.o_done_in_pe[0]) else hw.psum_bits
    glb_o = (tr.glb_reads[0, 2] + tr.glb_writes[0, 2]) * o_width * glb
    o_moved = tr.glb_reads[0, 2] + tr.glb_writes[0, 2]  # drains and returns included
    return float(c.energy_pj[0] - glb_o + o_moved * hw.psum_bits * glb)


def af_parts(rec: dict, hw) -> dict[str, float]:  # noqa: ANN001
    """AccelForge's per-component energy grouped as codesign's levels + MAC."""
    rf, glb, dram = (m.name for m in hw.memories)
    e = rec["energy_by_component_pj"]
    return {
        "RF": sum(v for k, v in e.items() if k.startswith(f"{rf}_") or k.startswith("REG_")),
        "GLB": e.get(glb, 0.0),
        "DRAM": e.get(dram, 0.0),
        "MAC": e.get("MAC", 0.0),
    }


def _order(specs: list[LayerSpec], precisions: list[tuple[int, int]]) -> list:
    """AccelForge jobs, cheapest first: 1x1 layers at every precision, then depthwise, then
    the other layers by MACs, all at the first precision before the next."""

    def cost(s: LayerSpec) -> tuple[int, int]:
        if s.FY * s.FX == 1:
            return (0, s.macs)
        return (1 if s.kind == OpKind.DWCONV else 2, s.macs)

    cheap = [s for s in specs if cost(s)[0] < 2]
    dear = sorted((s for s in specs if cost(s)[0] == 2), key=cost)
    jobs = [(s, p) for s in sorted(cheap, key=cost) for p in precisions]
    jobs += [(s, p) for p in precisions for s in dear]
    return jobs


def latency_table(con, hw, specs, precisions, ours, ours_free, theirs, version) -> None:  # noqa: ANN001
    """Latency-optimal mappings side by side: codesign's min-latency kept mapping (the file's
    dataflows, and with the unconstrained unrollings) against AccelForge's latency-optimal
    one, each in its own model, with the energy each pays for it."""
    t = Table(title=f"min-latency mapping per layer on {hw.name}: codesign vs AccelForge {version}")
    cols = ("layer", "WxA", "lat cs kcyc", "lat cs+unc kcyc", "lat AF kcyc", "cs / AF",
            "MAC floor kcyc", "E cs uJ", "E AF uJ", "PEs cs / AF", "wall AF s")  # fmt: skip
    for c in cols:
        t.add_column(c, justify="left" if c in ("layer", "WxA") else "right")
    n_le = n_cmp = 0
    for s in specs:
        for w, a in precisions:
            o, of, r = ours[s.name, w, a], ours_free[s.name, w, a], theirs.get((s.name, w, a))
            rate = hw.macs_per_pe_per_cycle[hw.act_bits.index(a)][hw.weight_bits.index(w)]
            floor = s.macs / (hw.num_pes * rate) / 1e3
            if r is None or "error" in r:
                t.add_row(s.name, f"{w}x{a}", f"{o['cycles'] / 1e3:.1f}",
                          f"{of['cycles'] / 1e3:.1f}", "not run", "", f"{floor:.1f}",
                          f"{o['energy_pj'] / 1e6:.2f}", "", "", "")  # fmt: skip
                continue
            best = min(o["cycles"], of["cycles"])
            n_cmp += 1
            n_le += best <= r["latency_cycles"] * (1 + 1e-9)
            af_pes = hw.num_pes * float(np.prod(list(r.get("pe_usage", {}).values()) or [1.0]))
            t.add_row(
                s.name, f"{w}x{a}", f"{o['cycles'] / 1e3:.1f}", f"{of['cycles'] / 1e3:.1f}",
                f"{r['latency_cycles'] / 1e3:.1f}", f"{best / r['latency_cycles']:.3f}",
                f"{floor:.1f}", f"{o['energy_pj'] / 1e6:.2f}", f"{r['energy_pj'] / 1e6:.2f}",
                f"{o['pes']:.0f} / {af_pes:.0f}",
                f"{r['wall_s']:.0f}" + (" (cached)" if r.get("cached") else ""),
            )  # fmt: skip
    con.print(t)
    write_doc_page("accelforge", t)
    con.print(
        "Both latency models take the slowest of the MACs and every memory's (read + write "
        "bits) / bits per cycle, i.e. perfect overlap; AccelForge gives each register file "
        "its own port where codesign shares 64 bits per cycle among a PE's three. MAC floor: "
        "MACs / 168 PEs. cs / AF uses codesign's better of its two columns."
    )
    print(f"codesign's best latency <= AccelForge's optimum on {n_le} of {n_cmp} pairs")


def main(argv: list[str] | None = None) -> None:
    """Run (or read from the cache) both mappers and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ACCELFORGE.add_arguments(ap)
    ap.add_argument("--hw", default="eyeriss", help="a bundled name or a hardware file")
    ap.add_argument(
        "--cache",
        default=str(RESULTS / "bench_accelforge"),
        help="where AccelForge's runs are kept",
    )
    ap.add_argument("--layers", default="", help="comma-separated names (default: all)")
    ap.add_argument("--precisions", default="8x8,4x4", help="WxA pairs, e.g. 8x8,4x4")
    ap.add_argument("--af-budget-min", type=float, default=75.0)
    ap.add_argument("--af-timeout-min", type=float, default=60.0)
    ap.add_argument("--cached-only", action="store_true", help="start no AccelForge run")
    ap.add_argument(
        "--registers",
        action="store_true",
        help="keep eyeriss.yaml's input registers (both tools; AccelForge ~3x slower)",
    )
    ap.add_argument("--min-usage", type=float, default=0.0)
    ap.add_argument("--show-mappings", action="store_true")
    ap.add_argument(
        "--thorough",
        action="store_true",
        help="also codesign's mapper at 1.5x samples and a longer, 2x wider beam "
        "(column 'E cs thorough')",
    )
    ap.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="also the worst of codesign's mapper over seeds 0..N-1, at its "
        "defaults and thorough (the mapper samples; one seed can be lucky)",
    )
    ap.add_argument(
        "--metric",
        choices=("energy", "latency"),
        default="energy",
        help="what AccelForge optimises and codesign's kept mapping is compared on",
    )
    args, _ = parse(ap, argv)
    set_threads(1)
    con = console(230)
    python = ACCELFORGE.python(args, con)
    cache = Path(args.cache)
    # both tools with or without the MAC's input registers (see the docstring)
    hw = dataclasses.replace(load_hardware(args.hw), input_registers=args.registers)
    free_hw = dataclasses.replace(hw, dataflows=(*hw.dataflows, "unconstrained"))
    specs = all_layers()
    if args.layers:
        wanted = args.layers.split(",")
        specs = [s for s in specs if s.name in wanted]
    precisions = [tuple(int(x) for x in p.split("x")) for p in args.precisions.split(",")]
    version = af_version(python) if python else "(not run)"
    arch = accelforge_arch(hw, None, args.min_usage)
    mapper_cfg = {"metrics": args.metric}
    kept = 0 if args.metric == "energy" else 1  # codesign's min-energy / min-latency mapping

    ours, ours_free = {}, {}
    for s in specs:
        for w, a in precisions:
            ours[s.name, w, a] = codesign_best(s, hw, a, w, kept)
            ours_free[s.name, w, a] = codesign_best(s, free_hw, a, w, kept)
            o = ours[s.name, w, a]
            # seed 0 is the run above; seeds 1.. only for --seeds
            runs = [("seeds", o, MapperSettings())]
            if args.thorough:
                o["thorough"] = codesign_best(s, hw, a, w, kept, THOROUGH)
                runs.append(("thorough seeds", o["thorough"], THOROUGH))
            for key, first, base in runs:
                o[key] = [first] + [
                    codesign_best(s, hw, a, w, kept, dataclasses.replace(base, seed=k))
                    for k in range(1, args.seeds)
                ]

    theirs: dict[tuple[str, int, int], dict] = {}
    started = time.perf_counter()
    ran = 0
    if python:
        cache.mkdir(parents=True, exist_ok=True)
    for s, (w, a) in _order(specs, precisions) if python else ():
        layer = layer_doc(s, a, w)
        arch_p = arch_for(arch, hw, a, w)
        path = cache / job_key(arch_p, mapper_cfg, layer, version)
        if path.exists():
            theirs[s.name, w, a] = {**json.loads(path.read_text()), "cached": True}
            continue
        spent = (time.perf_counter() - started) / 60
        if args.cached_only or spent >= args.af_budget_min:
            continue
        con.print(f"AccelForge: {s.name} w{w}a{a} ({spent:.1f} min spent) ...")
        rec, wall = run_accelforge(
            python,
            {"arch": arch_p, "mapper": mapper_cfg, "layers": [layer]},
            args.af_timeout_min * 60,
        )
        ran += 1
        rec["process_wall_s"] = wall
        if "error" not in rec:
            path.write_text(json.dumps(rec, indent=1))
        else:
            con.print(f"  failed: {rec['error'][:300]}")
        theirs[s.name, w, a] = {**rec, "cached": False}
    this_run_s = time.perf_counter() - started
    if args.metric == "latency":
        latency_table(con, hw, specs, precisions, ours, ours_free, theirs, version)
        layers = args.layers or ",".join(s.name for s in specs)
        reproduce = ["--metric", "latency", "--layers", layers, "--precisions", args.precisions]
        print_reproduce(command("bench_accelforge.py", reproduce))
        write_doc_page("accelforge", reproduce=command("bench_accelforge.py", reproduce))
        return

    table = Table(
        title=f"min-energy mapping per layer on {hw.name}: codesign vs AccelForge {version}"
    )
    cols = (
        "layer",
        "WxA",
        "E cs uJ",
        "E cs+unc uJ",
        "E AF uJ",
        "cs / AF",
        "E cs as AF uJ",
        "as AF / AF",
        *([f"as AF, worst of {args.seeds} seeds / AF"] if args.seeds > 1 else []),
        "lat cs kcyc",
        "lat AF kcyc",
        "lat cs / AF",
        "PEs cs / AF",
        "most different: cs vs AF uJ",
        "wall cs s",
        "wall AF s",
    )
    for c in cols:
        table.add_column(
            c,
            justify="left" if c in ("layer", "WxA") or "most" in c else "right",
            no_wrap="most" in c,
        )
    n_le = n_adj = n_cmp = n_3x3 = n_3x3_ok = 0
    cold = 0.0
    for s in specs:
        for w, a in precisions:
            o, of = ours[s.name, w, a], ours_free[s.name, w, a]
            r = theirs.get((s.name, w, a))
            base = [
                s.name,
                f"{w}x{a}",
                f"{o['energy_pj'] / 1e6:.2f}",
                f"{of['energy_pj'] / 1e6:.2f}",
            ]
            if r is None or "error" in r:
                why = "not run" if r is None else r["error"][:60]
                adj = f"{o['energy_as_af_pj'] / 1e6:.2f}"
                table.add_row(
                    *base,
                    why,
                    "",
                    adj,
                    "",
                    *([""] if args.seeds > 1 else []),
                    f"{o['cycles'] / 1e3:.1f}",
                    *[""] * 4,
                    f"{o['wall_s']:.2f}",
                    "",
                )
                continue
            cold += r["wall_s"]
            e_ratio = o["energy_pj"] / r["energy_pj"]
            n_cmp += 1
            n_le += o["energy_pj"] <= r["energy_pj"]
            n_adj += o["energy_as_af_pj"] <= r["energy_pj"]
            worst_af = max(x["energy_as_af_pj"] for x in o["seeds"]) / r["energy_pj"]
            if s.FY * s.FX == 9 and s.kind == OpKind.CONV:  # ResNet-18's 3x3 convolutions
                n_3x3 += 1
                n_3x3_ok += worst_af <= AS_AF_GOAL
            tp = af_parts(r, hw)
            worst = max(o["parts"], key=lambda k: abs(o["parts"][k] - tp[k]))
            af_pes = hw.num_pes * float(np.prod(list(r.get("pe_usage", {}).values()) or [1.0]))
            table.add_row(
                *base,
                f"{r['energy_pj'] / 1e6:.2f}",
                f"{e_ratio:.3f}",
                f"{o['energy_as_af_pj'] / 1e6:.2f}",
                f"{o['energy_as_af_pj'] / r['energy_pj']:.3f}",
                *([f"{worst_af:.3f}"] if args.seeds > 1 else []),
                f"{o['cycles'] / 1e3:.1f}",
                f"{r['latency_cycles'] / 1e3:.1f}",
                f"{o['cycles'] / r['latency_cycles']:.2f}",
                f"{o['pes']:.0f} / {af_pes:.0f}",
                f"{worst} {o['parts'][worst] / 1e6:.2f} vs {tp[worst] / 1e6:.2f}",
                f"{o['wall_s']:.2f}",
                f"{r['wall_s']:.0f}" + (" (cached)" if r.get("cached") else ""),
            )
    con.print(table)
    write_doc_page("accelforge", table)
    con.print(
        "cs: codesign's mapper, the file's dataflows; cs+unc: also its unconstrained "
        "unrollings; AF: AccelForge (energy-optimal in its mapspace); cs as AF: codesign's "
        "mapping priced by codesign's model with AccelForge's padding and GLB-output rules; "
        "lat: latency of the min-energy mapping; PEs: PEs the mapping occupies; wall cs: "
        "mapping the layer at all 9 precision pairs; wall AF: one precision, one core. "
        "codesign's column is its kept min-energy mapping (the fastest within 0.5 % of its "
        "least energy, or within 2 % when twice as fast), not its min-EDP one, because "
        "AccelForge's optimum here is energy-only: the like-for-like comparison."
    )
    print(
        f"3x3 convolutions (ResNet-18): codesign's mapping priced as AccelForge prices, worst "
        f"of seeds 0-{args.seeds - 1}, within {AS_AF_GOAL:.3f} of AccelForge's optimum on "
        f"{n_3x3_ok} of the {n_3x3} compared pairs"
    )

    if args.thorough:
        th = Table(
            title="codesign's mapper at its defaults and --thorough (1500 samples, beam 5 x 8, "
            "8 sub-array unrollings)"
        )
        worst_cols = (
            (f"worst of {args.seeds} seeds / AF", f"thorough worst of {args.seeds} / AF")
            if args.seeds > 1
            else ()
        )
        for c in ("layer", "WxA", "E cs uJ", "E cs thorough uJ", "E AF uJ", "cs / AF",
                  "thorough / AF", *worst_cols, "wall cs s", "wall thorough s"):  # fmt: skip
            th.add_column(c, justify="left" if c in ("layer", "WxA") else "right")
        n_th = n_th_ok = n_worst_ok = 0
        for s_ in specs:
            for w, a in precisions:
                o, r = ours[s_.name, w, a], theirs.get((s_.name, w, a))
                t_ = o["thorough"]
                ok = r is not None and "error" not in r
                worst = [
                    max(x["energy_pj"] for x in o[key]) / r["energy_pj"] if ok else None
                    for key in ("seeds", "thorough seeds")
                ]
                if ok:
                    n_th += 1
                    n_th_ok += t_["energy_pj"] <= 1.01 * r["energy_pj"]
                    n_worst_ok += worst[1] <= 1.01
                th.add_row(
                    s_.name, f"{w}x{a}", f"{o['energy_pj'] / 1e6:.2f}",
                    f"{t_['energy_pj'] / 1e6:.2f}",
                    f"{r['energy_pj'] / 1e6:.2f}" if ok else "not run",
                    f"{o['energy_pj'] / r['energy_pj']:.3f}" if ok else "",
                    f"{t_['energy_pj'] / r['energy_pj']:.3f}" if ok else "",
                    *([f"{x:.3f}" if ok else "" for x in worst] if worst_cols else []),
                    f"{o['wall_s']:.2f}", f"{t_['wall_s']:.2f}",
                )  # fmt: skip
        con.print(th)
        write_doc_page("accelforge", th)
        con.print(
            f"thorough within 1 % of AccelForge's optimum (or below) on {n_th_ok} of {n_th} "
            "compared pairs"
            + (
                f"; its worst of seeds 0-{args.seeds - 1} on {n_worst_ok} of {n_th}"
                if args.seeds > 1
                else ""
            )
        )

    tb = Table(title="energy by component, uJ: codesign (file's dataflows) / AccelForge")
    for c in ("layer", "WxA", "RF", "GLB", "DRAM", "MAC"):
        tb.add_column(c, justify="right")
    for s in specs:
        for w, a in precisions:
            r = theirs.get((s.name, w, a))
            if r is None or "error" in r:
                continue
            o, tp = ours[s.name, w, a]["parts"], af_parts(r, hw)
            tb.add_row(s.name, f"{w}x{a}", *(f"{o[k] / 1e6:.2f} / {tp[k] / 1e6:.2f}" for k in o))
    con.print(tb)
    write_doc_page("accelforge", tb)
    if args.show_mappings:
        for s in specs:
            for w, a in precisions:
                r = theirs.get((s.name, w, a))
                if r and "mapping" in r:
                    con.print(f"[b]{s.name} w{w}a{a}[/b] AccelForge: " + " | ".join(r["mapping"]))
                    con.print(f"  codesign: {ours[s.name, w, a]['mapping']}")
    missing = sum(
        (s.name, w, a) not in theirs or "error" in theirs[s.name, w, a]
        for s in specs
        for w, a in precisions
    )
    print(
        f"codesign's best energy <= AccelForge's optimum on {n_le} of {n_cmp} compared "
        f"(layer, precision) pairs, on {n_adj} with its mapping priced as AccelForge "
        f"prices padding and GLB outputs; {missing} not compared (not run or failed)."
    )
    n_1pc = sum(
        ours[k]["energy_pj"] <= 1.01 * theirs[k]["energy_pj"]
        for k in ours
        if k in theirs and "error" not in theirs[k]
    )
    print(f"within 1 % of the optimum (or below) at the mapper's defaults: {n_1pc} of {n_cmp}")
    # speed: codesign maps a layer at all nine precision pairs at once; AccelForge one pair
    for w, a in precisions:
        done = [
            s.name
            for s in specs
            if (s.name, w, a) in theirs and "error" not in theirs[s.name, w, a]
        ]
        if not done:
            continue
        af_s = sum(theirs[n, w, a]["wall_s"] for n in done)
        parts = [("defaults", sum(ours[n, w, a]["wall_s"] for n in done))]
        if args.thorough:
            parts.append(("thorough", sum(ours[n, w, a]["thorough"]["wall_s"] for n in done)))
        print(
            f"speed: the {len(done)} layers AccelForge mapped at w{w}a{a} took it {af_s:.0f} s; "
            + "; ".join(
                f"codesign ({k}) maps them at all 9 pairs in {t:.2f} s, {af_s / t:,.0f}x faster"
                for k, t in parts
            )
        )
    print(
        f"AccelForge {version}: {ran} run(s) started here, {this_run_s:.0f} s of wall time in "
        f"this invocation; a cold run of the {n_cmp} compared pairs took {cold:.0f} s of "
        f"AccelForge mapping (one core)."
    )
    reproduce = (
        (["--layers", args.layers] if args.layers else [])
        + ["--precisions", args.precisions]
        + (["--seeds", str(args.seeds)] if args.seeds > 1 else [])
        + (["--thorough"] if args.thorough else [])
    )
    print_reproduce(command("bench_accelforge.py", reproduce))
    write_doc_page("accelforge", reproduce=command("bench_accelforge.py", reproduce))


if __name__ == "__main__":
    main()
