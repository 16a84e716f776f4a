#!/usr/bin/env python3
"""Map convolution layers with AccelForge (PyPI ``accelforge``, tested with 1.0.467) from a
simple JSON description, one process, one thread.

Usage (AccelForge lives in its own virtualenv, NOT in the project's environment; it needs
Python >= 3.12):

    /work/af-venv/bin/python benchmarks/accelforge/run_accelforge.py IN.json OUT.json \
        [--keep-yaml DIR]
    /work/af-venv/bin/python benchmarks/accelforge/run_accelforge.py --version

The script turns IN.json into one AccelForge spec (architecture + workload, YAML) per layer,
calls ``Spec.map_workload_to_arch`` (the FFM mapper: all Pareto-optimal mappings of its
mapspace for the chosen metrics) once per layer, and writes the best mapping's energy,
latency, per-component breakdown, action counts and loop nest to OUT.json. Only the
standard library, PyYAML and accelforge are imported. No component model (hwcomponents,
CACTI) is consulted: every action has an explicit energy and throughput, area and leakage
are zero.

=====================================================================
IN.json
=====================================================================
{
 "arch": {
   "name": "Eyeriss-like",
   "pe_array": {"rows": 12, "cols": 14},     # two spatial fanouts of the PE container
   "spatial_min_usage": 0.0,                 # AccelForge's Spatial.min_usage on both
   "memories": [                             # OUTERMOST FIRST
     {"name": "DRAM", "per_pe": false,
      "size_bits": null,                     # null = unbounded
      "tensors": ["weight", "input", "output"],   # kept (never bypassed)
      "pj_per_bit": 31.25,                   # read and write energy per bit
      "bits_per_cycle": 64,                  # latency = (read + write bits) / this,
                                             # per instance for per-PE memories
      "bits_per_value": {"output": 8}},      # per-memory width overrides
     ...],                                   # per_pe memories sit below the PE fanout
   "input_registers": true,                  # one-value weight and input registers between
                                             # the register files and the MAC (free to
                                             # access): a reused operand is read from its
                                             # register file once per run of MACs
   "mac": {"pj": 0.25, "macs_per_cycle": 1}  # per MAC at the layer's precision
 },
 "mapper": {"metrics": "energy",             # energy | latency | edp | energy+latency
            "explore_imperfect_spatial_loops": false,
            "explore_imperfect_temporal_loops": false},
 "layers": [
   {"name": "conv3_ds", "K": 128, "C": 64, "OY": 28, "OX": 28, "FY": 1, "FX": 1,
    "stride": [2, 2], "padding": [0, 0], "depthwise": false,
    "bits": {"weight": 8, "input": 8, "output": 8}}   # one width per tensor
 ]
}

The workload of a layer is one Einsum
    O[k, p, q] = I[c, H: sy*p + r, W: sx*q + s] * Wt[k, c, r, s]      (convolution)
    O[k, p, q] = I[k, H: sy*p + r, W: sx*q + s] * Wt[k, r, s]          (depthwise)
over the padded input. A 1x1 filter with stride > 1 reads only every stride-th row and
column, so its input is written as the subsampled tensor I[c, p, q] (AccelForge would
otherwise count the whole bounding box of a strided tile as moved).

=====================================================================
OUT.json
=====================================================================
{"accelforge_version": "1.0.467",
 "layers": [{"name": ..., "energy_pj": ..., "latency_cycles": ...,
             "energy_by_component_pj": {"DRAM": ..., "GLB": ..., "RF_W": ..., "MAC": ...},
             "latency_by_component_cycles": {...},
             "actions": {"GLB": {"input": {"read": bits, "write": bits}, ...}, ...},
             "pe_usage": {"rows": fraction, "cols": fraction},
             "memory_usage": {"GLB": {"input": fraction of its size, ...}, ...},
             "mapping": ["DRAM keeps weight, output, input", "for p in 14",
                         "GLB reserves input here", ...],
             "wall_s": seconds of map_workload_to_arch,
             "error": present only if AccelForge failed}]}
Energy is in the units of the given energies (pJ), latency in cycles (every throughput is
per cycle). Exit status 1 if a layer failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import yaml  # noqa: E402

ROLE = {"weight": "Wt", "input": "I", "output": "O"}  # role -> tensor name in the Einsum
NAME = {v: k for k, v in ROLE.items()}
TINY = 1e-9  # pJ per register access: AccelForge's tile-shape pruning needs a nonzero cost


class _Tagged(dict):
    """A mapping dumped with a YAML tag (!Memory, !Container, !Compute)."""

    def __init__(self, tag: str, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag


def _represent_tagged(dumper: yaml.SafeDumper, data: _Tagged):  # noqa: ANN202
    return dumper.represent_mapping(data.tag, dict(data))


yaml.SafeDumper.add_representer(_Tagged, _represent_tagged)


def _actions(pj: float, per_cycle: float | str) -> list[dict]:
    return [
        {"name": n, "energy": pj, "bits_per_action": 1, "throughput": per_cycle}
        for n in ("read", "write")
    ]


def _memory(m: dict) -> _Tagged:
    node = _Tagged(
        "!Memory",
        name=m["name"],
        size=m["size_bits"] if m.get("size_bits") is not None else "inf",
        leak_power=0,
        area=0,
        # the port is shared by reads and writes: (read + write bits) / bits per cycle
        total_latency=f"sum(a.n_calls for a in actions) / {m['bits_per_cycle']}",
        actions=_actions(m["pj_per_bit"], 1),
        tensors={"keep": " | ".join(m["tensors"])},
    )
    if m.get("bits_per_value"):
        node["bits_per_value"] = dict(m["bits_per_value"])
    return node


def arch_yaml(arch: dict) -> dict:
    """The architecture as AccelForge's `arch:` document."""
    nodes = [_memory(m) for m in arch["memories"] if not m["per_pe"]]
    usage = arch.get("spatial_min_usage", 0.0)
    nodes.append(
        _Tagged(
            "!Container",
            name="PE",
            spatial=[
                {"name": "cols", "fanout": arch["pe_array"]["cols"], "min_usage": usage},
                {"name": "rows", "fanout": arch["pe_array"]["rows"], "min_usage": usage},
            ],
        )
    )
    nodes += [_memory(m) for m in arch["memories"] if m["per_pe"]]
    if arch.get("input_registers"):
        for role in ("weight", "input"):
            nodes.append(
                _Tagged(
                    "!Memory",
                    name=f"REG_{ROLE[role][0]}",
                    size=f"{role}.bits_per_value",  # one value
                    leak_power=0,
                    area=0,
                    actions=_actions(TINY, 1e12),
                    tensors={"keep": role},
                )
            )
    mac = arch["mac"]
    nodes.append(
        _Tagged(
            "!Compute",
            name="MAC",
            leak_power=0,
            area=0,
            total_latency=f"sum(a.n_calls for a in actions) / {mac['macs_per_cycle']}",
            actions=[{"name": "compute", "energy": mac["pj"], "throughput": 1}],
        )
    )
    return {"nodes": nodes}


def _axis(rank: str, out: str, filt: str, stride: int, size: int) -> str:
    """The input coordinate of rank `rank`: out*stride + filt; a 1x1 filter reads every
    stride-th element only, so its input is the subsampled tensor, indexed by `out`."""
    if size == 1:
        return f"{rank}: {out}"
    return f"{rank}: {out} + {filt}" if stride == 1 else f"{rank}: {stride}*{out} + {filt}"


def workload_yaml(layer: dict) -> dict:
    """One layer as AccelForge's `workload:` document."""
    sy, sx = layer["stride"]
    fy, fx = layer["FY"], layer["FX"]
    dw = layer.get("depthwise", False)
    ch = "k" if dw else "c"
    rows = _axis("H", "p", "r", sy, fy)
    cols = _axis("W", "q", "s", sx, fx)
    w_idx = ["k"] + ([] if dw else ["c"]) + (["r"] if fy > 1 else []) + (["s"] if fx > 1 else [])
    einsum = f"O[k, p, q] = I[{ch}, {rows}, {cols}] * Wt[{', '.join(w_idx)}]"
    space = [f"0 <= k < {layer['K']}", f"0 <= p < {layer['OY']}", f"0 <= q < {layer['OX']}"]
    if not dw:
        space.append(f"0 <= c < {layer['C']}")
    if fy > 1:
        space.append(f"0 <= r < {fy}")
    if fx > 1:
        space.append(f"0 <= s < {fx}")
    bits = layer["bits"]
    return {
        "bits_per_value": {ROLE[r]: int(b) for r, b in bits.items()},
        "einsums": [
            {
                "einsum": einsum,
                "iteration_space_shape": space,
                "renames": {"output": "O", "input": "I", "weight": "Wt"},
            }
        ],
    }


_METRICS = {
    "energy": "ENERGY",
    "latency": "LATENCY",
    "edp": "ENERGY_DELAY_PRODUCT",
}


def _metrics(af, text: str):  # noqa: ANN001, ANN202
    out = None
    for part in text.split("+"):
        m = getattr(af.mapper.Metrics, _METRICS[part.strip()])
        out = m if out is None else out | m
    return out


def _loop_nest(mapping, layer: dict) -> list[str]:  # noqa: ANN001
    """The mapping's nodes, outermost first, as short lines: storage nodes, loops with their
    iteration counts (the tile shapes AccelForge reports are what each loop leaves below
    it), and where a memory's space for a tensor is reserved below loops that follow its
    storage node (it then holds one tile at a time, fetched once: sliding-window reuse)."""
    full = {"k": layer["K"], "c": layer["C"], "p": layer["OY"], "q": layer["OX"]}
    full |= {"r": layer["FY"], "s": layer["FX"]}
    tile = dict(full)
    out = []
    loops_since: dict[tuple[str, str], int] = {}  # (memory, tensor) -> loops since storage
    for n in mapping.nodes:
        kind = type(n).__name__
        if kind == "Storage":
            names = ", ".join(NAME.get(t, t) for t in n.tensors)
            out.append(f"{n.component} keeps {names}")
            for t in n.tensors:
                loops_since[n.component, t] = 0
        elif kind == "Reservation":
            for t in n.purposes:
                if loops_since.get((n.resource, t), 0) > 0:
                    out.append(f"{n.resource} reserves {NAME.get(t, t)} here")
        elif kind in ("Temporal", "Spatial"):
            rv = str(n.rank_variable)
            try:
                ts = int(n.tile_shape)
            except (TypeError, ValueError):
                out.append(f"{kind} {rv} tile {n.tile_shape}")
                continue
            count = math.ceil(tile.get(rv, ts) / ts) if ts else 0
            tile[rv] = ts
            if count <= 1:
                continue
            for key in loops_since:
                loops_since[key] += 1
            where = f" over {n.name}" if kind == "Spatial" else ""
            out.append(f"{'spatial' if kind == 'Spatial' else 'for'} {rv} in {count}{where}")
        elif kind == "Compute":
            out.append(f"{n.component}")
    return out


def map_layer(af, arch: dict, mapper: dict, layer: dict, keep_yaml: Path | None) -> dict:  # noqa: ANN001
    """Map one layer; the result record of OUT.json."""
    doc = {"arch": arch_yaml(arch), "workload": workload_yaml(layer)}
    text = yaml.safe_dump(doc, sort_keys=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text)
        if keep_yaml is not None:
            keep_yaml.mkdir(parents=True, exist_ok=True)
            (keep_yaml / f"{layer['name']}.yaml").write_text(text)
        spec = af.Spec.from_yaml(str(path))
        spec.mapper.metrics = _metrics(af, mapper.get("metrics", "energy"))
        for knob in ("explore_imperfect_spatial_loops", "explore_imperfect_temporal_loops"):
            if knob in mapper:
                setattr(spec.mapper, knob, bool(mapper[knob]))
        cwd = os.getcwd()
        os.chdir(tmp)  # the mapper writes mapping.svg into the working directory
        try:
            t0 = time.perf_counter()
            res = spec.map_workload_to_arch(print_progress=False)
            wall = time.perf_counter() - t0
        finally:
            os.chdir(cwd)
    row = res.data.iloc[0]
    actions: dict[str, dict[str, dict[str, float]]] = {}
    usage: dict[str, float] = {}
    occupancy: dict[str, dict[str, float]] = {}
    for col in res.data.columns:
        parts = col.split("<SEP>")
        if len(parts) == 5 and parts[1] == "action" and parts[3] != "None":
            comp, tensor, act = parts[2], parts[3], parts[4]
            actions.setdefault(comp, {}).setdefault(NAME.get(tensor, tensor), {})[act] = float(
                row[col]
            )
        if len(parts) == 5 and parts[1:3] == ["usage", "spatial"]:
            usage[parts[4]] = float(row[col])
        if len(parts) == 5 and parts[1:3] == ["usage", "memory"]:
            occupancy.setdefault(parts[3], {})[NAME.get(parts[4], parts[4])] = float(row[col])
    energy = {k: float(v) for k, v in res.energy(per_component=True).items()}
    latency = {k: float(v) for k, v in res.latency(per_component=True).items()}
    return {
        "name": layer["name"],
        "energy_pj": float(res.energy()),
        "latency_cycles": float(res.latency()),
        "energy_by_component_pj": energy,
        "latency_by_component_cycles": latency,
        "actions": actions,
        "pe_usage": usage,
        "memory_usage": occupancy,
        "mapping": _loop_nest(res.mapping(), layer),
        "wall_s": wall,
    }


def main() -> None:
    """Read IN.json, map each layer, write OUT.json."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inp", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--keep-yaml", type=Path, default=None)
    ap.add_argument("--version", action="store_true")
    args = ap.parse_args()
    import accelforge as af

    version = getattr(af, "__version__", None)
    if version is None:
        from importlib.metadata import version as _v

        version = _v("accelforge")
    if args.version:
        print(version)
        return
    if not args.inp or not args.out:
        ap.error("IN.json and OUT.json are required")
    af.set_n_parallel_jobs(1, print_message=False)
    cfg = json.loads(Path(args.inp).read_text())
    out = {"accelforge_version": version, "layers": []}
    failed = 0
    for layer in cfg["layers"]:
        try:
            rec = map_layer(af, cfg["arch"], cfg.get("mapper", {}), layer, args.keep_yaml)
        except Exception as exc:  # noqa: BLE001
            failed += 1
            rec = {
                "name": layer["name"],
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()[-4000:],
            }
        out["layers"].append(rec)
        Path(args.out).write_text(json.dumps(out, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
