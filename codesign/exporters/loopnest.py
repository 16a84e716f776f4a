"""`--format zigzag` and `--format timeloop`: a point's layers as loop nests with their
operand precisions, to cross-check it in ZigZag or Timeloop.

Every quantizable layer becomes one loop nest (K, C, OY, OX, FY, FX, with G for grouped and
depthwise convolutions; a linear layer is a 1x1 convolution over its N input vectors; a
matmul of two activations is a grouped one, one group per independent product, its second
operand in W's place at the activation bits; a transposed convolution is its sub-pixel
convolutions, as codesign's mapper sees them). Its operand
precisions are the point's bits: weights W at the layer's weight bits, inputs I at its
activation bits, partial sums O at the hardware's partial-sum width (32 bits on MCU cores, which
accumulate in 32-bit registers) and finished outputs at the width the cost model stores them
(`codesign.cost.tables.activation_storage`): the widest activation bits of the layers that read
them, directly or through pass-through kinds such as a residual add (32 where no quantized
layer reads them: the network's outputs).

Per-channel bit-widths, which neither tool expresses within one layer (one precision per
operand), are exported faithfully by splitting the layer into its precision groups: one loop
nest per weight bit-width with K = the channels at that width (pruned channels are left out),
and every layer's C counts only the input channels its producers keep (the same liveness the
cost model prices, `codesign.cost.channels`). Nests of a split layer are named
``<layer>@<bits>b``.

- zigzag: one workload YAML in ZigZag's format (a list of layers with ``equation``,
  ``loop_dims``, ``loop_sizes``, ``operand_precision``, ``operand_source``, padding);
- timeloop: one Timeloop v4 problem YAML per loop nest (``problem: {version: 0.4, shape,
  instance}``) in a folder, with the operand precisions as ``variables`` an architecture spec
  can reference (``weight_bits``, ``input_bits``, ``output_bits``), and an index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from codesign.core.errors import RunError
from codesign.core.files import write_text_atomic
from codesign.cost.channels import live_sets, plan_of
from codesign.cost.nest import instances, loop_bounds
from codesign.cost.tables import activation_storage
from codesign.exporters import ExportResult, register_exporter
from codesign.hw.load import load_hardware
from codesign.run import open_run
from codesign.workload.graph import LayerGraph


@dataclass(frozen=True)
class Nest:
    """One loop nest: a layer, or one precision group of a per-channel layer."""

    name: str
    layer: str
    K: int
    C: int
    G: int
    OY: int
    OX: int
    FY: int
    FX: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    w_bits: int
    i_bits: int
    o_bits: int
    o_final_bits: int
    source: str | None  # the nest whose outputs feed this one's inputs (None: the input)

    @property
    def depthwise(self) -> bool:
        """Grouped (depthwise when K = C = 1 per group)."""
        return self.G > 1


def nests_of(run_dir: Path, pick: int) -> tuple[list[Nest], Any]:
    """The loop nests of Pareto point `pick` of `run_dir` (see the module docstring)."""
    rd = open_run(run_dir)
    front = rd.load_front()
    if not 0 <= pick < len(front):
        raise RunError(f"--pick {pick}: {run_dir} has Pareto points #0..#{len(front) - 1}")
    c = front.candidates[pick]
    # the run's own layer graph and hardware file: no workload is rebuilt, so a run of a model
    # given from Python (`codesign.explore(model=...)`) exports too
    graph = LayerGraph.from_records(rd.read_json("layers.json"), front.workload)
    hw_file = run_dir / "hw.yaml"
    if not hw_file.exists():
        raise RunError(f"{run_dir}: missing hw.yaml (the hardware file the run priced against)")
    psum = int(load_hardware(hw_file).psum_bits)
    prec = dict(zip(front.layers, c.precisions))
    specs = {s.name: s for s in graph.quantizable}
    channels = {s.name: s.K for s in graph.quantizable}
    kept_in = {
        n: {k for k, b in enumerate(_bits(p.weight_bits, channels[n])) if b > 0}
        for n, p in prec.items()
    }
    kept, in_frac, _ = live_sets(plan_of(graph), kept_in, channels)
    # finished outputs at the width the cost model stores them: the widest activation bits of
    # their quantized readers, through pass-through kinds (`OUTPUT_BITS` when none reads them)
    stored, _ = activation_storage(
        graph, {n: p.act_bits for n, p in prec.items()}, max(p.act_bits for p in prec.values())
    )
    producer = _producer_layer(graph)
    out: list[Nest] = []
    first_nest: dict[str, str] = {}
    for name in front.layers:
        s, p = specs[name], prec[name]
        bits = _bits(p.weight_bits, s.K)
        groups = sorted({bits[k] for k in kept[name]})
        o_final = stored[name]
        G = int(s.groups)
        for b in groups:
            ks = [k for k in kept[name] if bits[k] == b]
            frac = sum(in_frac[name][k] for k in ks) / len(ks)
            nest_name = name if len(groups) == 1 else f"{name}@{b}b"
            first_nest.setdefault(name, nest_name)
            src = producer.get(name)
            depthwise = G > 1 and s.C == 1 and s.K == G
            oy, ox, fy, fx, stride, pad = s.OY, s.OX, s.FY, s.FX, tuple(s.stride), tuple(s.padding)
            k_per = len(ks) / G
            if not s.kind.traits.nest.padded:
                # the loop nest codesign maps: N vectors of a linear and M rows of a matmul
                # along OX, a matmul's independent products as groups, a transposed conv as
                # its sub-pixel convolutions (`codesign.cost.nest.loop_bounds`)
                bd, _, _, _ = loop_bounds(s)
                oy, ox, fy, fx = (int(v) for v in bd[2:])
                stride, pad = (1, 1), (0, 0)
                k_per = len(ks) * int(bd[0]) / s.K
                G = instances(s)
            out.append(
                Nest(
                    name=nest_name,
                    layer=name,
                    # channels per group (C already counts per group); depthwise: G channels
                    K=1 if depthwise else max(1, round(k_per)),
                    C=1 if depthwise else max(1, round(s.C * frac)),
                    G=len(ks) if depthwise else G,
                    OY=oy,
                    OX=ox,
                    FY=fy,
                    FX=fx,
                    stride=stride,
                    padding=pad,
                    w_bits=int(b),
                    i_bits=int(p.act_bits),
                    o_bits=psum,
                    o_final_bits=int(o_final),
                    source=first_nest.get(src) if src else None,
                )
            )
    return out, front


def _bits(weight_bits: Any, K: int) -> list[int]:
    return [int(weight_bits)] * K if isinstance(weight_bits, int) else [int(b) for b in weight_bits]


def _producer_layer(graph: Any) -> dict[str, str]:
    """Per quantizable layer, the quantizable layer its input comes from (through weightless
    nodes, first input), when there is one."""
    q = {s.name for s in graph.quantizable}
    pos = {n: i for i, n in enumerate(graph.order)}

    def first_input(name: str) -> str | None:
        preds = sorted(graph.graph.predecessors(name), key=pos.get)
        return preds[0] if preds else None

    out = {}
    for s in graph.quantizable:
        cur = first_input(s.name)
        while cur is not None and cur not in q:
            cur = first_input(cur)
        if cur is not None:
            out[s.name] = cur
    return out


def zigzag_layer(n: Nest, i: int, ids: dict[str, int]) -> dict[str, Any]:
    """One ZigZag workload entry (the format of zigzag-dse 3.x)."""
    sy, sx = n.stride
    py, px = n.padding
    if n.depthwise and n.K == 1 and n.C == 1:
        eq = "O[b][g][oy][ox]+=W[g][fy][fx]*I[b][g][iy][ix]"
        dims = {"B": 1, "G": n.G, "OY": n.OY, "OX": n.OX, "FY": n.FY, "FX": n.FX}
    elif n.depthwise:  # grouped: G groups of K outputs from C inputs each
        eq = "O[b][g][k][oy][ox]+=W[g][k][c][fy][fx]*I[b][g][c][iy][ix]"
        dims = {
            "B": 1,
            "G": n.G,
            "K": n.K,
            "C": n.C,
            "OY": n.OY,
            "OX": n.OX,
            "FY": n.FY,
            "FX": n.FX,
        }
    else:
        eq = "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]"
        dims = {"B": 1, "K": n.K, "C": n.C, "OY": n.OY, "OX": n.OX, "FY": n.FY, "FX": n.FX}
    entry: dict[str, Any] = {
        "id": i,
        "name": n.name,
        "operator_type": "Conv",
        "equation": eq,
        "dimension_relations": [f"ix={sx}*ox+1*fx", f"iy={sy}*oy+1*fy"],
        "loop_dims": list(dims),
        "loop_sizes": list(dims.values()),
        "operand_precision": {
            "W": n.w_bits,
            "I": n.i_bits,
            "O": n.o_bits,
            "O_final": n.o_final_bits,
        },
        "operand_source": {"W": i, "I": ids.get(n.source, i) if n.source else i},
    }
    if px or py:
        entry["pr_loop_dims"] = ["IX", "IY"]
        entry["padding"] = [[px, px], [py, py]]
    return entry


@register_exporter("zigzag")
def export_zigzag(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """The point as a ZigZag workload YAML."""
    nests, front = nests_of(run_dir, pick)
    ids = {n.name: i for i, n in enumerate(nests)}
    doc = [zigzag_layer(n, i, ids) for i, n in enumerate(nests)]
    out = path or run_dir / f"point-{pick}.zigzag.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# ZigZag workload of Pareto point #{pick} of {run_dir} ({front.workload} on "
        f"{front.hardware}), written by codesign export --format zigzag\n"
    )
    write_text_atomic(out, header + yaml.safe_dump(doc, sort_keys=False))
    split = sorted({n.layer for n in nests if n.name != n.layer})
    return ExportResult((out,), {"loop_nests": len(nests), "layers_split_by_precision": len(split)})


def timeloop_problem(n: Nest) -> dict[str, Any]:
    """One Timeloop v4 problem (the CNN-layer shape; depthwise as its own shape)."""
    sy, sx = n.stride
    if n.depthwise:  # per group: M outputs from C inputs (depthwise: 1 and 1)
        dims = ["G", "C", "M", "R", "S", "N", "P", "Q"]
        spaces = [
            {"name": "Weights", "projection": [[["G"]], [["C"]], [["M"]], [["R"]], [["S"]]]},
            {
                "name": "Inputs",
                "projection": [
                    [["N"]],
                    [["G"]],
                    [["C"]],
                    [["R"], ["P", "Wstride"]],
                    [["S"], ["Q", "Hstride"]],
                ],
            },
            {
                "name": "Outputs",
                "projection": [[["N"]], [["G"]], [["M"]], [["P"]], [["Q"]]],
                "read_write": True,
            },
        ]
        inst = {"G": n.G, "C": n.C, "M": n.K}
    else:
        dims = ["C", "M", "R", "S", "N", "P", "Q"]
        spaces = [
            {"name": "Weights", "projection": [[["C"]], [["M"]], [["R"]], [["S"]]]},
            {
                "name": "Inputs",
                "projection": [
                    [["N"]],
                    [["C"]],
                    [["R"], ["P", "Wstride"]],
                    [["S"], ["Q", "Hstride"]],
                ],
            },
            {
                "name": "Outputs",
                "projection": [[["N"]], [["M"]], [["P"]], [["Q"]]],
                "read_write": True,
            },
        ]
        inst = {"C": n.C, "M": n.K}
    # Timeloop's names: R, P, Wstride along the width (x); S, Q, Hstride along the height (y)
    inst.update({"R": n.FX, "S": n.FY, "N": 1, "P": n.OX, "Q": n.OY, "Wstride": sx, "Hstride": sy})
    return {
        "problem": {
            "version": 0.4,
            "shape": {
                "name": n.name,
                "dimensions": dims,
                "coefficients": [
                    {"name": "Wstride", "default": 1},
                    {"name": "Hstride", "default": 1},
                ],
                "data_spaces": spaces,
            },
            "instance": inst,
        },
        "variables": {
            "version": 0.4,
            "weight_bits": n.w_bits,
            "input_bits": n.i_bits,
            "output_bits": n.o_bits,
            "output_final_bits": n.o_final_bits,
        },
    }


@register_exporter("timeloop")
def export_timeloop(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """The point as Timeloop v4 problem YAMLs, one per loop nest, in a folder with an index."""
    nests, front = nests_of(run_dir, pick)
    folder = path or run_dir / f"point-{pick}.timeloop"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, n in enumerate(nests):
        f = folder / f"{i:02d}-{n.name.replace('@', '-').replace('.', '_')}.yaml"
        write_text_atomic(f, yaml.safe_dump(timeloop_problem(n), sort_keys=False))
        files.append(f)
    index = {
        "point": pick,
        "run": str(run_dir),
        "workload": front.workload,
        "hardware": front.hardware,
        "problems": [
            {"file": f.name, "nest": n.name, "layer": n.layer} for f, n in zip(files, nests)
        ],
    }
    write_text_atomic(folder / "index.yaml", yaml.safe_dump(index, sort_keys=False))
    return ExportResult((folder / "index.yaml", *files), {"loop_nests": len(nests)})
