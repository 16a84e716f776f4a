#!/usr/bin/env python3
"""Run ZigZag (PyPI ``zigzag-dse``, tested with 3.9.1) on a simple JSON description.

Usage (ZigZag lives in its own virtualenv, NOT in the project's environment):

    /work/zz-venv/bin/python benchmarks/zigzag/run_zigzag.py IN.json OUT.json [--keep-yaml DIR]

The script turns IN.json into ZigZag's three YAML inputs (accelerator, workload,
mapping), calls ``zigzag.api.get_hardware_performance_zigzag`` once per layer and
per mode, and writes per-layer energy / latency / mapping results to OUT.json.
Only the standard library, PyYAML and zigzag are imported.

=====================================================================
IN.json
=====================================================================
{
 "accelerator": {
   "name": "eyeriss_like",
   "pe_array": {"D1": 12, "D2": 14},   # operational-array dims (ZigZag OA dims D1..D4)
   "mac_energy_pj": 0.2,               # energy per MAC (ZigZag `unit_energy`); charged
                                       # once per MAC of the layer, independent of precision
   "mac_area": 0.0,                    # optional, default 0
   "precision": {"W": 8, "I": 8, "O": 16, "O_final": 8},
                                       # bits per element. O = partial-sum precision,
                                       # O_final = precision of the finished output.
                                       # A layer may override with its own "precision".
   "memories": [                       # INNERMOST FIRST (ZigZag requires low->high order)
     {"name": "rf_w",
      "size_bits": 1792,               # capacity of ONE instance, in bits
      "r_bw": 8, "w_bw": 8,            # read / write port width in bits per cycle
                                       # (ZigZag `bandwidth_max`)
      "min_r_bw": 8, "min_w_bw": 8,    # optional access granularity (ZigZag
                                       # `bandwidth_min`), default = r_bw / w_bw
      "r_cost_pj": 0.03,               # energy of ONE read access of r_bw bits
      "w_cost_pj": 0.03,               # energy of ONE write access of w_bw bits
      "operands": ["W"],               # subset of W, I, O stored here
      "served_dims": [],               # see SERVED DIMENSIONS below
      "ports": "separate",             # optional: "separate" (default) = one read port of
                                       # r_bw + one write port of w_bw; "rw" = a single
                                       # read_write port of r_bw bits (w_bw ignored),
                                       # shared by all operands and directions
      "latency": 1,                    # optional, default 1 (not used by ZigZag's cost model)
      "area": 0.0,                     # optional, default 0
      "double_buffering": false},      # optional: ZigZag `force_double_buffering`
     ...
   ]
 },
 "layers": [                           # conv / fully-connected layers
   {"name": "conv1", "K": 64, "C": 3, "OY": 112, "OX": 112, "FY": 7, "FX": 7,
    "G": 1,                            # optional: groups (K and C per group; a depthwise
                                       # layer has G = channels, K = C = 1)
    "stride": 2,                       # or "stride_y"/"stride_x"
    "padding": 3,                      # or "padding_y"/"padding_x"; only used to size the
                                       # input tensor (IX = stride*(OX-1)+FX - 2*padding)
    "IX": 224, "IY": 224,              # optional: explicit input size, overrides padding
    "B": 1,                            # optional, default 1
    "repeat": 4,                       # optional: how often the layer occurs in the network;
                                       # only used for the *_x_repeat totals
    "precision": {...}}                # optional per-layer precision override
 ],
 "mapping": null | {
   "spatial": {"D1": ["K", 12], "D2": ["OY", 14]},
        # spatial unrolling per OA dim (one layer dim per OA dim, or a list of
        # [dim, factor] pairs for mixed unrolling: "D1": [["K", 4], ["C", 3]]).
        # ZigZag clips a factor to the layer size; a factor that does not divide the
        # layer dim is made fractional for energy (e.g. K=64 on 12 -> 10.67 x 6 temporal)
        # and rounded up (ceil) for latency.
        # null/absent -> ZigZag searches the spatial mapping (nb_spatial_mappings best
        # candidates by utilisation are all evaluated, best kept).
   "temporal_ordering": ["FX", "FY", "C", "OX", "OY", "K", "B"],
        # innermost first. Either
        #  * a list of dim NAMES: the script fills in, per layer, the full temporal
        #    extent of each dim (ceil(size / spatial unrolling)), split into prime
        #    factors (kept adjacent, so the loop nest is unchanged) so that LOMA's
        #    memory allocator can cut a dim between memory levels. Dims missing from
        #    the list are appended outermost in canonical order.
        #  * or explicit [[dim, size], ...] pairs (must cover exactly the temporal loops
        #    of every layer it is applied to; best used in "per_layer").
        # null/absent -> no "fixed" mode.
   "per_layer": {"conv1": {"spatial": ..., "temporal_ordering": ...}},
        # optional per-layer overrides of "spatial" / "temporal_ordering"
   "modes": ["fixed", "loma"]
        # optional; default: ["fixed", "loma"] if a temporal ordering is given,
        # ["loma"] if only a spatial mapping is given, ["free"] if mapping is null.
 },
 "zigzag": {                           # optional ZigZag knobs
   "optimize": "energy",               # LOMA / spatial search criterion: energy|latency|EDP
   "lpf_limit": 6,                     # LOMA loop-prime-factor limit (search size ~ lpf!)
   "nb_spatial_mappings": 3,           # spatial candidates evaluated in "free" mode
   "temporal_mapping_type": "uneven"   # uneven|even memory allocation
 }
}

Modes:
  fixed : given spatial unrolling + given loop ORDER. ZigZag pins the order; which
          loops sit in which memory level is still decided by LOMA's greedy
          bottom-up MemoryAllocator (fills each level as far as capacity allows,
          per operand, without reordering). One mapping is evaluated.
  loma  : given spatial unrolling, LOMA enumerates loop orders (of the loop prime
          factors, limited by lpf_limit) and keeps the best by "optimize".
  free  : ZigZag also picks the spatial unrolling.

SERVED DIMENSIONS (ZigZag's `served_dimensions`, here "served_dims")
  The list of PE-array dimensions along which ONE instance of the memory is
  SHARED (i.e. which PEs it feeds / collects from).  Therefore
    served_dims = []            -> the memory is replicated in every PE
                                   (12*14 = 168 instances for a 12x14 array;
                                   size_bits / costs are per instance);
    served_dims = ["D1", "D2"]  -> one instance serves the whole array
                                   (e.g. a global buffer or DRAM);
    served_dims = ["D1"]        -> one instance per column, shared by the D1 PEs.
  NOTE: this is the opposite of the intuition "served dims = dims over which it is
  instantiated".  A memory level holds the spatial loops of all PE-array dims
  BELOW it that are not served by a lower level; data broadcast along a served
  dim is read once (ZigZag counts unique elements).  Access counts of a memory
  level are summed over all its instances.

Operand names: W (weights), I (input activations), O (outputs). Internally they
map to ZigZag memory operands W->I2, I->I1, O->O.

COST SEMANTICS of zigzag-dse 3.9.1 (read from zigzag/cost_model, zigzag/mapping)
  * MAC energy = mac_energy_pj * (product of all loop sizes, padding MACs included).
    Independent of precision and of spatial under-utilisation.
  * Element traffic per memory level follows the loop nest: for an input operand,
    elements read towards the PEs = MACs / (product of the operand-irrelevant loops,
    spatial ones included, at and below that level); refills from above are computed
    the same way one level up.  Broadcast along a served dim counts once.  Input
    tiles come from the loop sizes through ix = s*ox + fx (no sliding-window reuse
    across tile boundaries).  Outputs: wr_in_by_low = MACs / (ir loops below);
    rd_out_to_low = psum read-backs = |O| * (ir iterations above - 1);
    precision is O (psum) while a reduction loop is still above, else O_final.
    Innermost level, W and I only: a value stays at the memory's read port while
    the innermost loops of the whole nest that do not index it run (ZigZag's
    mac_level_data_stationary_cycle), so it is read once per such run, provided
    the read port is at least one element wide (API flag
    access_same_data_considered_as_no_access=True). Partial sums are read and
    written every MAC.
    Traffic from/to outside the top memory (DRAM) is not counted: W and I are
    assumed already in DRAM; final outputs are counted as DRAM writes.
  * Word accesses = ceil(elements_per_transfer_period * precision / min_bw)
                    * (min_bw / max_bw) * period_count * #instances.
    Energy = word accesses * r_cost (or w_cost): the cost is per access of max_bw
    bits, i.e. per bit with rounding up to the granularity per transfer period.
  * Latency (latency_total2) = product of temporal loops (ceil of non-divisible
    spatial unrolling -> under-utilisation) + stalls (per memory port: transfer
    cycles ceil(bits/max_bw) vs the allowed window -- whole period if the tile uses
    <= 50 % of the memory (double buffering assumed), else only the last iteration
    of the top irrelevant loop -- summed per port, max over ports) + onloading of
    the first tiles + offloading of the last outputs (+ systolic drain, unused here).
    Memory "latency" is not used.

=====================================================================
OUT.json
=====================================================================
{
 "zigzag_version": "3.9.1",
 "accelerator": "...", "modes": [...],
 "layers": [
   {"name": "conv1", "macs": ..., "dims": {...},
    "fixed": {                        # one entry per mode
      "energy_pj": total,
      "energy_breakdown_pj": {"mac": ..., "memory_total": ...,
           "per_memory": {"rf_w": ..., "glb": ...},
           "per_memory_per_operand": {"glb": {"W": ..., "I": ..., "O": ...}},
           "per_memory_per_operand_direction": {"glb": {"W": {"rd_out_to_low": ...}}}},
      "memory_word_accesses": {"glb": {"W": {"rd_out_to_low": n, "wr_in_by_high": n,
                                               "rd_out_to_high": n, "wr_in_by_low": n}}},
          # in units of accesses of bandwidth_max bits, summed over instances.
          # rd_out_to_low = read towards the PEs, wr_in_by_high = refill from above,
          # rd_out_to_high = (partial) outputs sent up, wr_in_by_low = outputs/psums
          # written from below.
      "latency_cycles": latency_total2 (= compute incl. under-utilisation
                        + stalls + initial onloading + final offloading),
      "latency_breakdown_cycles": {"ideal_cycle": MACs / #PEs,
           "ideal_temporal_cycle": product of temporal loops (spatial under-use
                                   included), "stall_slack": ..., "onloading": ...,
           "offloading": ..., "systolic_drain": ...,
           "latency_total0": ideal_temporal+stall, "latency_total1": +onloading,
           "latency_total2": +offloading},
      "mac_utilization": {"spatial": ..., "with_stalls": ..., "total": ...},
      "mapping": {"spatial": {"D1": "K:10.67", ...}   # as used by ZigZag
                  "spatial_per_level": {"W": ["level0: K 10.67", ...]},
                  "temporal": {"W": {"rf_w": "FX7 FY7 ...", "glb": "...", "dram": "..."}},
                  "loop_order_innermost_first": "..."},
      "wall_time_s": seconds of the zigzag API call,
      "error": present only if ZigZag failed for this layer/mode}}
 ],
 "totals": {"fixed": {"energy_pj": ..., "latency_cycles": ...,      # sum over listed layers
                     "energy_pj_x_repeat": ..., "latency_cycles_x_repeat": ...,
                     "wall_time_s": ..., "failed_layers": 0}}
}
Exit status 1 if any layer/mode failed (its entry then has "error" + "traceback").
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import sys
import tempfile
import time
import traceback
from importlib import metadata

import yaml

OP_TO_MEM = {"W": "I2", "I": "I1", "O": "O"}
CANONICAL_DIMS = ["B", "K", "C", "OY", "OX", "FY", "FX"]
DIRECTIONS = ["rd_out_to_low", "wr_in_by_low", "rd_out_to_high", "wr_in_by_high"]


# ----------------------------------------------------------------------------
# Input -> ZigZag YAML
# ----------------------------------------------------------------------------
def build_accelerator(acc: dict) -> dict:
    dims = list(acc["pe_array"].keys())
    sizes = [int(acc["pe_array"][d]) for d in dims]
    memories: dict = {}
    for mem in acc["memories"]:
        ops = list(mem["operands"])
        for op in ops:
            if op not in OP_TO_MEM:
                raise ValueError(f"memory {mem['name']}: operand {op!r} not in W/I/O")
        r_bw = int(mem["r_bw"])
        w_bw = int(mem.get("w_bw", r_bw))
        min_r = int(mem.get("min_r_bw", r_bw))
        min_w = int(mem.get("min_w_bw", w_bw))
        port_kind = mem.get("ports", "separate")
        read_alloc, write_alloc = [], []
        for op in ops:
            m = OP_TO_MEM[op]
            write_alloc.append(f"{m}, fh")
            read_alloc.append(f"{m}, tl")
            if op == "O":
                write_alloc.append(f"{m}, fl")
                read_alloc.append(f"{m}, th")
        if port_kind == "rw":
            ports = [
                {
                    "name": "rw_port_1",
                    "type": "read_write",
                    "bandwidth_min": min_r,
                    "bandwidth_max": r_bw,
                    "allocation": write_alloc + read_alloc,
                }
            ]
        elif port_kind == "separate":
            ports = [
                {
                    "name": "r_port_1",
                    "type": "read",
                    "bandwidth_min": min_r,
                    "bandwidth_max": r_bw,
                    "allocation": read_alloc,
                },
                {
                    "name": "w_port_1",
                    "type": "write",
                    "bandwidth_min": min_w,
                    "bandwidth_max": w_bw,
                    "allocation": write_alloc,
                },
            ]
        else:
            raise ValueError(f"memory {mem['name']}: ports must be 'separate' or 'rw'")
        memories[mem["name"]] = {
            "size": int(mem["size_bits"]),
            "r_cost": float(mem["r_cost_pj"]),
            "w_cost": float(mem["w_cost_pj"]),
            "area": float(mem.get("area", 0.0)),
            "latency": int(mem.get("latency", 1)),
            "operands": [OP_TO_MEM[o] for o in ops],
            "ports": ports,
            "served_dimensions": list(mem.get("served_dims", [])),
            "force_double_buffering": bool(mem.get("double_buffering", False)),
        }
    return {
        "name": acc.get("name", "accelerator"),
        "memories": memories,
        "operational_array": {
            "unit_energy": float(acc["mac_energy_pj"]),
            "unit_area": float(acc.get("mac_area", 0.0)),
            "dimensions": dims,
            "sizes": sizes,
        },
    }


def layer_dims(layer: dict) -> dict:
    dims = {d: int(layer.get(d, 1)) for d in CANONICAL_DIMS}
    if int(layer.get("G", 1)) > 1:  # grouped / depthwise: the group loop after the batch
        dims = {"B": dims.pop("B"), "G": int(layer["G"]), **dims}
    return dims


def build_layer(layer: dict, layer_id: int, default_prec: dict) -> dict:
    dims = layer_dims(layer)
    sy = int(layer.get("stride_y", layer.get("stride", 1)))
    sx = int(layer.get("stride_x", layer.get("stride", 1)))
    prec = dict(default_prec)
    prec.update(layer.get("precision", {}))
    entry = {
        "id": layer_id,
        "name": layer["name"],
        "operator_type": "Conv",
        "equation": (
            "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]"
            if "G" in dims
            else "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
        ),
        "dimension_relations": [f"ix={sx}*ox+1*fx", f"iy={sy}*oy+1*fy"],
        "loop_dims": list(dims.keys()),
        "loop_sizes": list(dims.values()),
        "operand_precision": {k: int(prec[k]) for k in ("W", "I", "O", "O_final")},
        # both operands "constant" (produced outside this single-layer workload)
        "operand_source": {"W": layer_id, "I": layer_id},
    }
    if "IX" in layer or "IY" in layer:
        ix = int(layer.get("IX", sx * (dims["OX"] - 1) + dims["FX"]))
        iy = int(layer.get("IY", sy * (dims["OY"] - 1) + dims["FY"]))
        entry["pr_loop_dims"] = ["IX", "IY"]
        entry["pr_loop_sizes"] = [ix, iy]
    else:
        py = int(layer.get("padding_y", layer.get("padding", 0)))
        px = int(layer.get("padding_x", layer.get("padding", 0)))
        if px or py:
            entry["pr_loop_dims"] = ["IX", "IY"]
            entry["padding"] = [[px, px], [py, py]]
    return entry


def normalize_spatial(spatial: dict | None) -> dict | None:
    """{"D1": ["K", 12]} or {"D1": [["K", 4], ["C", 3]]} -> {"D1": [("K", 12)]}."""
    if spatial is None:
        return None
    out = {}
    for oa, val in spatial.items():
        if isinstance(val[0], str):
            val = [val]
        out[oa] = [(str(d), int(f)) for d, f in val]
    return out


def temporal_extents(dims: dict, spatial: dict, pe_array: dict) -> dict:
    """Temporal loop sizes ZigZag will have to schedule (mirrors LomaEngine.get_temporal_loops)."""
    unroll: dict[str, int] = {}
    for oa, pairs in spatial.items():
        for d, f in pairs:
            f = min(f, int(pe_array[oa]), dims.get(d, 1))
            unroll[d] = unroll.get(d, 1) * f
    ext = {}
    for d, size in dims.items():
        t = math.ceil(size / min(unroll.get(d, 1), size)) if size > 1 else 1
        if t > 1:
            ext[d] = t
    return ext


def prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1 and p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def build_temporal_ordering(order, dims: dict, spatial: dict, pe_array: dict) -> list:
    ext = temporal_extents(dims, spatial, pe_array)
    if order and isinstance(order[0], str):
        names = [d for d in order if d in dims]
        names += [d for d in dims if d not in names]
        loops = []
        for d in names:
            if d in ext:
                loops += [[d, f] for f in prime_factors(ext[d])]
        return loops
    loops = [[str(d), int(s)] for d, s in order]
    got: dict[str, int] = {}
    for d, s in loops:
        got[d] = got.get(d, 1) * s
    got = {d: s for d, s in got.items() if s > 1}
    if got != ext:
        raise ValueError(
            f"explicit temporal_ordering {loops} does not cover the temporal loops {ext}"
        )
    return loops


def build_mapping_entry(name: str, spatial: dict | None, ordering: list | None) -> dict:
    entry: dict = {"name": name, "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}
    if spatial is not None:
        entry["spatial_mapping"] = {
            oa: [f"{d}, {f}" for d, f in pairs] for oa, pairs in spatial.items()
        }
    if ordering is not None:
        entry["temporal_ordering"] = ordering
    return entry


# ----------------------------------------------------------------------------
# ZigZag results -> JSON
# ----------------------------------------------------------------------------
def _num(x):
    if isinstance(x, float) and x.is_integer():
        return int(x)
    return x


def extract(cme, acc_json: dict) -> dict:
    from zigzag.datatypes import LayerOperand  # noqa: F401  (import check)

    mh = cme.accelerator.memory_hierarchy
    links = cme.layer.memory_operand_links
    per_mem: dict[str, float] = {m["name"]: 0.0 for m in acc_json["memories"]}
    per_mem_op: dict[str, dict] = {m["name"]: {} for m in acc_json["memories"]}
    per_mem_op_dir: dict[str, dict] = {m["name"]: {} for m in acc_json["memories"]}
    accesses: dict[str, dict] = {m["name"]: {} for m in acc_json["memories"]}
    temporal: dict[str, dict] = {}
    spatial_lvls: dict[str, list] = {}
    for layer_op in cme.layer.layer_operands:
        op = layer_op.name
        levels = mh.get_memory_levels(links.layer_to_mem_op(layer_op))
        names = [lv.name for lv in levels]
        for lv_name, e, e4, acc in zip(
            names,
            cme.mem_energy_breakdown[layer_op],
            cme.mem_energy_breakdown_further[layer_op],
            cme.memory_word_access[layer_op],
        ):
            per_mem[lv_name] += e
            per_mem_op[lv_name][op] = e
            per_mem_op_dir[lv_name][op] = {k: v for k, v in e4.__jsonrepr__().items()}
            accesses[lv_name][op] = {k: _num(v) for k, v in acc.__jsonrepr__().items()}
        tm = cme.temporal_mapping.mapping_dic_stationary[layer_op]
        temporal[op] = {
            names[i]: " ".join(f"{d.name}{_num(s)}" for d, s in lvl) for i, lvl in enumerate(tm)
        }
        sm = cme.spatial_mapping.mapping_dict_origin[layer_op]
        spatial_lvls[op] = [
            ("PE" if i == 0 else names[i - 1] + "+")
            + ": "
            + " ".join(f"{d.name}{round(float(s), 3)}" for d, s in lvl)
            for i, lvl in enumerate(sm)
            if lvl
        ]
    # user-format spatial mapping as used (after ZigZag's clipping)
    sm_user = {}
    for oa_dim, m in cme.layer.spatial_mapping.items():
        sm_user[str(oa_dim)] = " ".join(f"{d.name}:{round(float(f), 3)}" for d, f in m.items())
    # flat loop order innermost first (from the output operand's view, all levels)
    out_op = cme.layer.output_operand
    flat = [
        f"{d.name}{_num(s)}"
        for lvl in cme.temporal_mapping.mapping_dic_stationary[out_op]
        for d, s in lvl
    ]
    return {
        "energy_pj": cme.energy_total,
        "energy_breakdown_pj": {
            "mac": cme.mac_energy,
            "memory_total": cme.mem_energy,
            "per_memory": per_mem,
            "per_memory_per_operand": per_mem_op,
            "per_memory_per_operand_direction": per_mem_op_dir,
        },
        "memory_word_accesses": accesses,
        "latency_cycles": _num(cme.latency_total2),
        "latency_breakdown_cycles": {
            "ideal_cycle": _num(cme.ideal_cycle),
            "ideal_temporal_cycle": _num(cme.ideal_temporal_cycle),
            "stall_slack": _num(cme.stall_slack_comb),
            "onloading": _num(cme.data_onloading_cycle),
            "offloading": _num(cme.data_offloading_cycle),
            "systolic_drain": _num(cme.systolic_drain_cycle),
            "latency_total0": _num(cme.latency_total0),
            "latency_total1": _num(cme.latency_total1),
            "latency_total2": _num(cme.latency_total2),
        },
        "mac_utilization": {
            "spatial": cme.mac_spatial_utilization,
            "with_stalls": cme.mac_utilization0,
            "total": cme.mac_utilization2,
        },
        "mapping": {
            "spatial": sm_user,
            "spatial_per_level": spatial_lvls,
            "temporal": temporal,
            "loop_order_innermost_first": " ".join(flat),
        },
    }


# ----------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------
def run(cfg: dict, keep_yaml: str | None = None) -> dict:
    from zigzag import api

    acc_json = cfg["accelerator"]
    pe_array = acc_json["pe_array"]
    prec = acc_json.get("precision", {"W": 8, "I": 8, "O": 16, "O_final": 8})
    mapping = cfg.get("mapping")
    zz = {
        "optimize": "energy",
        "lpf_limit": 6,
        "nb_spatial_mappings": 3,
        "temporal_mapping_type": "uneven",
    }
    zz.update(cfg.get("zigzag", {}))

    if mapping is None:
        modes = ["free"]
    else:
        has_order = mapping.get("temporal_ordering") is not None or any(
            v.get("temporal_ordering") is not None for v in mapping.get("per_layer", {}).values()
        )
        modes = mapping.get("modes") or (["fixed", "loma"] if has_order else ["loma"])

    workdir = keep_yaml or tempfile.mkdtemp(prefix="zz_")
    os.makedirs(workdir, exist_ok=True)
    acc_path = os.path.join(workdir, "accelerator.yaml")
    with open(acc_path, "w") as f:
        yaml.safe_dump(build_accelerator(acc_json), f, sort_keys=False)

    out = {
        "zigzag_version": metadata.version("zigzag-dse"),
        "accelerator": acc_json.get("name", "accelerator"),
        "modes": modes,
        "zigzag_options": zz,
        "layers": [],
        "totals": {
            m: {
                "energy_pj": 0.0,
                "latency_cycles": 0.0,
                "energy_pj_x_repeat": 0.0,
                "latency_cycles_x_repeat": 0.0,
                "wall_time_s": 0.0,
                "failed_layers": 0,
            }
            for m in modes
        },
    }

    for idx, layer in enumerate(cfg["layers"]):
        dims = layer_dims(layer)
        macs = math.prod(dims.values())
        rep = int(layer.get("repeat", 1))
        lay_out = {"name": layer["name"], "macs": macs, "dims": dims, "repeat": rep}
        workload = [build_layer(layer, 0, prec)]
        per = (mapping or {}).get("per_layer", {}).get(layer["name"], {})
        spatial = normalize_spatial(per.get("spatial", (mapping or {}).get("spatial")))
        order = per.get("temporal_ordering", (mapping or {}).get("temporal_ordering"))
        for mode in modes:
            try:
                if mode == "free":
                    entry = build_mapping_entry(layer["name"], None, None)
                elif mode == "loma":
                    if spatial is None:
                        raise ValueError("mode 'loma' needs a spatial mapping")
                    entry = build_mapping_entry(layer["name"], spatial, None)
                elif mode == "fixed":
                    if spatial is None or order is None:
                        raise ValueError("mode 'fixed' needs spatial + temporal_ordering")
                    ordering = build_temporal_ordering(order, dims, spatial, pe_array)
                    entry = build_mapping_entry(layer["name"], spatial, ordering)
                else:
                    raise ValueError(f"unknown mode {mode}")
                default = copy.deepcopy(entry)
                default["name"] = "default"
                map_path = os.path.join(workdir, f"mapping_{idx}_{mode}.yaml")
                with open(map_path, "w") as f:
                    yaml.safe_dump([entry, default], f, sort_keys=False)
                dump = os.path.join(workdir, f"out_{idx}_{mode}")
                t0 = time.perf_counter()
                res = api.get_hardware_performance_zigzag(
                    workload=workload,
                    accelerator=acc_path,
                    mapping=map_path,
                    opt=zz["optimize"],
                    dump_folder=dump,
                    lpf_limit=int(zz["lpf_limit"]),
                    nb_spatial_mappings_generated=int(zz["nb_spatial_mappings"]),
                    temporal_mapping_type=zz["temporal_mapping_type"],
                    loma_show_progress_bar=False,
                )
                wall = time.perf_counter() - t0
                cmes = res[2]
                # cmes = [(CumulativeCME, [(layer_cme, extra_info), ...])]
                layer_cme = cmes[0][1][0][0]
                r = extract(layer_cme, acc_json)
                r["wall_time_s"] = wall
                if mode == "fixed":
                    r["requested_temporal_ordering"] = " ".join(f"{d}{s}" for d, s in ordering)
                tot = out["totals"][mode]
                tot["energy_pj"] += r["energy_pj"]
                tot["latency_cycles"] += r["latency_cycles"]
                tot["wall_time_s"] += wall
                tot["energy_pj_x_repeat"] += rep * r["energy_pj"]
                tot["latency_cycles_x_repeat"] += rep * r["latency_cycles"]
            except Exception as exc:  # keep going with other layers / modes
                r = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
                out["totals"][mode]["failed_layers"] += 1
            lay_out[mode] = r
            msg = r.get("error") or (
                f"E={r['energy_pj']:.4g} pJ  L={r['latency_cycles']} cc  t={r['wall_time_s']:.2f}s"
            )
            print(f"[zigzag] {layer['name']:>12s} {mode:>5s}: {msg}", file=sys.stderr, flush=True)
        out["layers"].append(lay_out)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument(
        "--keep-yaml", default=None, help="write ZigZag YAML inputs/outputs to this dir"
    )
    args = ap.parse_args(argv)
    # configure logging before zigzag's basicConfig(INFO) so that it stays quiet
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    with open(args.input) as f:
        cfg = json.load(f)
    out = run(cfg, args.keep_yaml)
    with open(args.output, "w") as f:
        json.dump(out, f, indent=1)
    failed = sum(t["failed_layers"] for t in out["totals"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
