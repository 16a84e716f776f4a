"""Depthwise layers on Eyeriss: the channel (group) dimension unrolled, before and after, and
beside ZigZag (issue 16, item 2).

A depthwise convolution has no input-channel reduction (C = 1 per group), so a dataflow that
spreads C over the PE array (Eyeriss's row stationary: filter rows x input channels on the
rows) leaves most of the array idle. codesign's mapper now unrolls the group dimension in C's
place for depthwise layers (`MapperSettings.group_unrolling`, on by default). This prints,
for MobileNet-V1's nine distinct depthwise layers at 224x224 (Howard et al. 2017, Table 1) on
hw_models/eyeriss.yaml at w8a8:

- codesign before (group_unrolling off, every dataflow filling the array its greedy way: the
  mapspace before issue 16) and after: the PEs and compute cycles of row stationary's
  fastest-array mapping, the min-energy mapping's energy, and the min-latency mapping's
  latency and utilisation (MACs / (cycles x PEs));
- ZigZag (zigzag-dse, free spatial + LOMA search, in its own venv; cached under
  results/bench_depthwise/ keyed by layer, hardware translation, criterion and version): its
  energy-optimal mapping (energy, PEs, utilisation) and its latency-optimal one (latency,
  utilisation). Each tool prices with its own model (see README's ZigZag section for how the
  two models differ: ZigZag adds stall and on/off-loading cycles, codesign assumes double
  buffering).

Reproduce:  python benchmarks/bench_depthwise.py [--zigzag-python /work/zz-venv/bin/python]
            [--layers dw1,...] [--without-zigzag] [--cache DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, ZIGZAG, command, console, parse, set_threads, show
from bench_zigzag import run_zigzag, zigzag_accelerator  # beside this file
from rich.table import Table

from codesign.core.types import LayerSpec, MapperSettings
from codesign.cost.spatial import compulsory_dram_bits, evaluate
from codesign.hw import load_hardware
from codesign.mapping import mapper

# MobileNet-V1 1.0x at 224x224 (Howard et al. 2017, Table 1): distinct 3x3 depthwise layers
# name, channels, input size, stride
MBV1_DW = [
    ("dw1", 32, 112, 1),
    ("dw2_s2", 64, 112, 2),
    ("dw3", 128, 56, 1),
    ("dw4_s2", 128, 56, 2),
    ("dw5", 256, 28, 1),
    ("dw6_s2", 256, 28, 2),
    ("dw7", 512, 14, 1),
    ("dw8_s2", 512, 14, 2),
    ("dw9", 1024, 7, 1),
]


def depthwise(name: str, ch: int, inp: int, stride: int) -> LayerSpec:
    """A 3x3 depthwise layer with padding 1."""
    out = (inp + 2 - 3) // stride + 1
    return LayerSpec.square_conv(
        name, ch, 1, out=out, filt=3, stride=stride, pad=1, inp=inp, groups=ch
    )


def ours(spec: LayerSpec, hw, group_unrolling: bool) -> dict:  # noqa: ANN001
    """codesign at w8a8: the min-energy (0) and min-latency (1) kept mappings, and among the
    row-stationary mappings the mapper priced (Eyeriss's own dataflow, the one that spread
    only input channels over its rows), the one whose array finishes first: its compute
    cycles and PEs, what that dataflow lets the array do. (The kept picks break ties among
    DRAM-bound mappings by energy, so their PE counts say little here.)"""
    # before: the mapspace before issue 16, where every dataflow filled the array its own way
    before = {} if group_unrolling else {"other_unrollings": 0.0, "partial_unrollings": 0}
    lm = mapper.map_layer(spec, hw, MapperSettings(group_unrolling=group_unrolling, **before))
    a, w = hw.act_bits.index(8), hw.weight_bits.index(8)
    every = evaluate(spec, hw, lm.mappings, 8, 8)
    rs = lm.mappings.dataflow == lm.mappings.names.index("row_stationary")
    fastest = int(np.argmin(np.where(every.valid & rs, every.compute_cycles, np.inf)))
    return {
        "compute_kcyc": float(every.compute_cycles[fastest]) / 1e3,
        "pes": int(np.prod(lm.mappings.spatial[fastest])),
        "energy_uj": float(lm.energy_pj[a, w, 0]) / 1e6,
        "latency_kcyc": float(lm.cycles[a, w, 1]) / 1e3,
        "util_l": float(lm.utilization[a, w, 1]),
    }


def zigzag(python: str, hw, spec: LayerSpec, optimize: str, cache: Path) -> dict:  # noqa: ANN001
    """ZigZag's free search of one depthwise layer by `optimize` (cached in `cache`)."""
    acc = zigzag_accelerator(hw)
    layer = {
        "name": spec.name, "G": spec.K, "K": 1, "C": 1, "OY": spec.OY, "OX": spec.OX,
        "FY": 3, "FX": 3, "stride": spec.stride[0], "IX": spec.input_shape[3],
        "IY": spec.input_shape[2], "padding": 1,
    }  # fmt: skip
    key = hashlib.sha256(
        json.dumps({"acc": acc, "layer": layer, "opt": optimize}, sort_keys=True).encode()
    ).hexdigest()[:16]
    path = cache / f"{spec.name}_{optimize}_{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    cfg = {"accelerator": acc, "layers": [layer], "mapping": None, "zigzag": {"optimize": optimize}}
    out, wall = run_zigzag(python, cfg)
    r = out["layers"][0]["free"]
    if "energy_pj" not in r:
        raise SystemExit(f"ZigZag failed on {spec.name}: {r.get('error', '')[:400]}")
    pes = 1.0
    for side in r["mapping"]["spatial"].values():
        for part in side.split():
            pes *= float(part.split(":")[1])
    doc = {
        "energy_uj": r["energy_pj"] / 1e6,
        "latency_kcyc": r["latency_cycles"] / 1e3,
        "pes": pes,
        "spatial": r["mapping"]["spatial"],
        "wall_s": wall,
        "version": out.get("zigzag_version"),
    }
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return doc


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ZIGZAG.add_arguments(ap)
    ap.add_argument("--layers", default="", help="comma-separated names (default: all nine)")
    ap.add_argument(
        "--cache", default=str(RESULTS / "bench_depthwise"), help="where ZigZag's runs are kept"
    )
    args, argv = parse(ap, argv)
    set_threads(1)
    con = console(220)
    python = ZIGZAG.python(args, con, required=False)
    hw = load_hardware("eyeriss")
    hw = dataclasses.replace(hw)
    have_zz = python is not None
    wanted = args.layers.split(",") if args.layers else [row[0] for row in MBV1_DW]
    peak = hw.num_pes
    t = Table(title=f"3x3 depthwise layers of MobileNet-V1 (224x224) on {hw.name}, w8a8")
    cols = ("layer", "MACs k", "RS PEs before", "RS PEs after", "E before uJ", "E after uJ",
            "RS array kcyc before", "RS array kcyc after", "DRAM floor kcyc", "lat before kcyc",
            "lat after kcyc", "util L after", "ZZ PEs", "ZZ E uJ", "ZZ lat kcyc",
            "ZZ util L")  # fmt: skip
    for c in cols:
        t.add_column(c, justify="left" if c == "layer" else "right")
    ours_s = 0.0
    rows = []
    for row in (r for r in MBV1_DW if r[0] in wanted):
        spec = depthwise(*row)
        t0 = time.perf_counter()
        b, a = ours(spec, hw, False), ours(spec, hw, True)
        ours_s += time.perf_counter() - t0
        zz_e = zigzag(python, hw, spec, "energy", Path(args.cache)) if have_zz else None
        zz_l = zigzag(python, hw, spec, "latency", Path(args.cache)) if have_zz else None
        rows.append((spec, b, a, zz_e, zz_l))
    for spec, b, a, zz_e, zz_l in rows:
        zz = ["-"] * 4
        floor = compulsory_dram_bits(spec, 8, 8) / hw.memories[2].bandwidth_bits_per_cycle
        if zz_e is not None:
            zz = [
                f"{zz_e['pes']:.0f}",
                f"{zz_e['energy_uj']:.2f}",
                f"{zz_l['latency_kcyc']:.1f}",
                f"{spec.macs / (zz_l['latency_kcyc'] * 1e3 * peak):.2f}",
            ]
        t.add_row(
            spec.name, f"{spec.macs / 1e3:,.0f}", str(b["pes"]), str(a["pes"]),
            f"{b['energy_uj']:.2f}", f"{a['energy_uj']:.2f}", f"{b['compute_kcyc']:.1f}",
            f"{a['compute_kcyc']:.1f}", f"{floor / 1e3:.1f}", f"{b['latency_kcyc']:.1f}",
            f"{a['latency_kcyc']:.1f}", f"{a['util_l']:.2f}", *zz,
        )  # fmt: skip
    show(con, t, page="depthwise")
    con.print(
        f"codesign mapped the {len(rows)} layers twice at all nine precision pairs in "
        f"{ours_s:.1f} s "
        "(ZigZag runs cached). RS PEs and RS array kcyc: row stationary's mapping with the "
        "least compute cycles; E: the min-energy mapping; lat and util L (MACs / (cycles x "
        "168 PEs)): the min-latency one; DRAM floor: "
        "every input and output element once over the 64-bit bus, which no mapping beats in "
        "codesign's model; ZigZag's columns are its energy-optimal and latency-optimal searches, "
        "in its own model (it does not count the DRAM reads of W and I)."
    )
    show(con, reproduce=command("bench_depthwise.py", argv), page="depthwise")


if __name__ == "__main__":
    main()
