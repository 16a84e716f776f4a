"""A point exported with `--format zigzag`, run through ZigZag (issue 14): the exported file
reads in ZigZag as written, and ZigZag prices every layer at the point's operand precisions.

It runs a small cost-only search of digits_cnn on hw_models/eyeriss.yaml (or takes --run and
--pick), exports the point, and runs the file through ZigZag (zigzag-dse, in its own virtual
environment, like bench_zigzag.py: ``python -m venv /work/zz-venv && /work/zz-venv/bin/pip
install zigzag-dse six``), ZigZag choosing the spatial mapping and LOMA the loop order for
energy. The table puts ZigZag's energy and latency per layer beside codesign's price of the same
point (codesign's own mapper, so the two differ as bench_zigzag.py explains).

Reproduce:  python benchmarks/bench_export_zigzag.py [--run RUN --pick N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from codesign.exporters import export  # noqa: E402
from codesign.hw import load_hardware  # noqa: E402
from codesign.run import open_run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="a run on a spatial accelerator (default: new)")
    ap.add_argument("--pick", type=int, default=0)
    ap.add_argument(
        "--zigzag-python", default=os.environ.get("ZIGZAG_PYTHON", "/work/zz-venv/bin/python")
    )
    ap.add_argument("--out", default="results/bench_export_zigzag")
    args = ap.parse_args()
    console = Console(width=140)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.run is None:
        from codesign.explore import explore

        run = out / "run"
        if not (run / "pareto.json").exists():
            explore(
                hw=str(ROOT / "hw_models" / "eyeriss.yaml"),
                workload="digits_cnn",
                objectives="energy,latency",
                generations=5,
                pop_size=16,
                out=str(run),
                console=Console(quiet=True),
            )
    else:
        run = Path(args.run)
    res = export(run, args.pick, "zigzag", out / f"point-{args.pick}.zigzag.yaml")
    from bench_zigzag import zigzag_accelerator

    hw = load_hardware(run / "hw.yaml")
    with tempfile.TemporaryDirectory() as work:
        accel = Path(work) / "accel.json"
        accel.write_text(json.dumps(zigzag_accelerator(hw)))
        result = out / f"point-{args.pick}.zigzag-result.json"
        proc = subprocess.run(
            [args.zigzag_python, str(ROOT / "benchmarks" / "zigzag" / "run_export.py"),
             str(res.path), str(accel), str(result)],
            capture_output=True, text=True,
        )  # fmt: skip
    if proc.returncode != 0:
        console.print(proc.stderr[-3000:])
        raise SystemExit(f"ZigZag failed on {res.path}")
    zz = json.loads(result.read_text())
    front = open_run(run).load_front()
    cand = front.candidates[args.pick]
    t = Table(title=f"{res.path} in ZigZag {zz['zigzag_version']} ({zz['wall_s']:.0f} s)")
    for col in (
        "layer",
        "W/I/O bits",
        "ZigZag uJ",
        "ZigZag cycles",
        "codesign uJ",
        "codesign cycles",
    ):
        t.add_column(col, justify="right")
    for row in zz["layers"]:
        lc = cand.cost.layers.get(row["layer"])
        p = row["precision"]
        bits = f"{p.get('W')}/{p.get('I')}/{p.get('O')}" if isinstance(p, dict) else str(p)
        t.add_row(
            row["layer"],
            bits,
            f"{row['energy_pj'] / 1e6:.4f}",
            f"{row['latency_cycles']:.0f}",
            "-" if lc is None else f"{lc.energy_j * 1e6:.4f}",
            "-" if lc is None else f"{lc.cycles:.0f}",
        )
    console.print(t)
    console.print(
        f"total: ZigZag {zz['energy_pj'] / 1e6:.4f} uJ, {zz['latency_cycles']:.0f} cycles; "
        f"codesign {cand.cost.energy_j * 1e6:.4f} uJ"
    )
    console.print(
        f"reproduce: python benchmarks/bench_export_zigzag.py --run {run} --pick {args.pick}"
    )


if __name__ == "__main__":
    main()
