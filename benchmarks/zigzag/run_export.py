#!/usr/bin/env python3
"""Run an exported ZigZag workload (`codesign export RUN --pick N --format zigzag`) through
ZigZag, whole network, ZigZag choosing the spatial mapping and LOMA the loop order.

Runs in ZigZag's own virtualenv, NOT the project's (only the standard library, PyYAML, zigzag
and the runner next to this file are imported):

    /work/zz-venv/bin/python benchmarks/zigzag/run_export.py WORKLOAD.yaml ACCEL.json OUT.json

ACCEL.json is the accelerator in `run_zigzag.py`'s terms (benchmarks/bench_zigzag.py's
`zigzag_accelerator`). OUT.json gets per layer ZigZag's energy (pJ) and latency (cycles).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run_zigzag import build_accelerator, build_mapping_entry  # noqa: E402


def main(argv: list[str]) -> int:
    from importlib import metadata

    from zigzag import api

    workload, accel, out = argv[1:4]
    acc_json = json.load(open(accel))
    with tempfile.TemporaryDirectory() as work:
        acc_path = os.path.join(work, "accelerator.yaml")
        with open(acc_path, "w") as f:
            yaml.safe_dump(build_accelerator(acc_json), f, sort_keys=False)
        default = build_mapping_entry("default", None, None)
        map_path = os.path.join(work, "mapping.yaml")
        with open(map_path, "w") as f:
            yaml.safe_dump([default], f, sort_keys=False)
        t0 = time.perf_counter()
        res = api.get_hardware_performance_zigzag(
            workload=workload,
            accelerator=acc_path,
            mapping=map_path,
            opt="energy",
            dump_folder=os.path.join(work, "out"),
            lpf_limit=6,
            nb_spatial_mappings_generated=3,
            loma_show_progress_bar=False,
        )
        wall = time.perf_counter() - t0
    cmes = res[2]
    rows = []
    for cme in _flatten(cmes):
        rows.append(
            {
                "layer": str(cme.layer.name),
                "energy_pj": float(cme.energy_total),
                "latency_cycles": float(cme.latency_total2),
                "precision": {str(k): int(v) for k, v in cme.layer.operand_precision.data.items()}
                if hasattr(cme.layer.operand_precision, "data")
                else str(cme.layer.operand_precision),
            }
        )
    doc = {
        "zigzag_version": metadata.version("zigzag-dse"),
        "workload": workload,
        "energy_pj": float(res[0]),
        "latency_cycles": float(res[1]),
        "wall_s": wall,
        "layers": rows,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
    return 0


def _flatten(x):  # noqa: ANN001, ANN202
    """The cost-model evaluations in ZigZag's nested result lists."""
    if isinstance(x, list | tuple):
        for y in x:
            yield from _flatten(y)
    elif hasattr(x, "energy_total") and hasattr(x, "layer"):  # one layer's evaluation
        yield x
    elif isinstance(x, dict):
        for y in x.values():
            yield from _flatten(y)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
