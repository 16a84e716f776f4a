"""A point exported with `--format zigzag`, run through ZigZag (issue 14): the exported file
reads in ZigZag as written, and ZigZag prices every layer at the point's operand precisions.

It runs a small cost-only search of digits_cnn on hw_models/eyeriss.yaml (or takes --run and
--pick), exports the point, and runs the file through ZigZag (zigzag-dse, in its own virtual
environment, like bench_zigzag.py: ``python -m venv /work/zz-venv && /work/zz-venv/bin/pip
install zigzag-dse six``), ZigZag choosing the spatial mapping and LOMA the loop order for
energy. The table puts ZigZag's energy and latency per layer beside codesign's price of the same
point (codesign's own mapper, so the two differ as bench_zigzag.py explains).

Reproduce:  python benchmarks/bench_export_zigzag.py [--run RUN --pick N]
            [--without-zigzag] (codesign's price of the exported point only)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import (
    BENCH,
    ZIGZAG,
    add_pipeline_args,
    command,
    console,
    parse,
    pipeline_options,
    set_threads,
    show,
)
from bench_zigzag import zigzag_accelerator
from rich.console import Console
from rich.table import Table

from codesign.explore import explore
from codesign.exporters import export
from codesign.hw import load_hardware
from codesign.run import open_run


def main(argv: list[str] | None = None) -> None:
    """Search (or take --run), export the point, run it through ZigZag, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="a run on a spatial accelerator (default: new)")
    ap.add_argument("--pick", type=int, default=0)
    ZIGZAG.add_arguments(ap)
    ap.add_argument("--out", default="results/bench_export_zigzag")
    ap.add_argument(
        "--finetune-top", type=int, default=None, help="fine-tunes of the new run (explore's)"
    )
    add_pipeline_args(ap)
    args, _ = parse(ap, argv)
    set_threads(1)
    con = console(140)
    python = ZIGZAG.python(args, con)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.run is None:
        run = out / "run"
        if not (run / "pareto.json").exists():
            explore(
                hw="eyeriss",
                workload="digits_cnn",
                objectives="energy,latency",
                generations=5,
                pop_size=16,
                out=str(run),
                finetune_top=args.finetune_top,
                console=Console(quiet=True),
                **pipeline_options(args),
            )
    else:
        run = Path(args.run)
    res = export(run, args.pick, "zigzag", out / f"point-{args.pick}.zigzag.yaml")
    zz = None
    if python is not None:
        hw = load_hardware(run / "hw.yaml")
        with tempfile.TemporaryDirectory() as work:
            accel = Path(work) / "accel.json"
            accel.write_text(json.dumps(zigzag_accelerator(hw)))
            result = (out / f"point-{args.pick}.zigzag-result.json").resolve()
            proc, _ = ZIGZAG.run(
                python,
                BENCH / "zigzag" / "run_export.py",
                *(str(Path(res.path).resolve()), str(accel), str(result)),
            )
        if proc.returncode != 0:
            con.print(proc.stderr[-3000:])
            raise SystemExit(f"ZigZag failed on {res.path}")
        zz = json.loads(result.read_text())
    front = open_run(run).load_front()
    cand = front.candidates[args.pick]
    zz_rows = {row["layer"]: row for row in zz["layers"]} if zz else {}
    title = (
        f"{res.path} in ZigZag {zz['zigzag_version']} ({zz['wall_s']:.0f} s)"
        if zz
        else f"{res.path}: codesign's price only (ZigZag not run)"
    )
    t = Table(title=title)
    for col in (
        "layer",
        "W/I/O bits",
        "ZigZag uJ",
        "ZigZag cycles",
        "codesign uJ",
        "codesign cycles",
    ):
        t.add_column(col, justify="right")
    for name in zz_rows or cand.cost.layers:
        lc = cand.cost.layers.get(name)
        row = zz_rows.get(name)
        p = row["precision"] if row else None
        bits = f"{p.get('W')}/{p.get('I')}/{p.get('O')}" if isinstance(p, dict) else str(p or "-")
        t.add_row(
            name,
            bits,
            f"{row['energy_pj'] / 1e6:.4f}" if row else "-",
            f"{row['latency_cycles']:.0f}" if row else "-",
            "-" if lc is None else f"{lc.energy_j * 1e6:.4f}",
            "-" if lc is None else f"{lc.cycles:.0f}",
        )
    show(con, t, page="export_zigzag")
    zz_total = (
        f"ZigZag {zz['energy_pj'] / 1e6:.4f} uJ, {zz['latency_cycles']:.0f} cycles; " if zz else ""
    )
    con.print(f"total: {zz_total}codesign {cand.cost.energy_j * 1e6:.4f} uJ")
    reproduce = command("bench_export_zigzag.py", ["--run", str(run), "--pick", str(args.pick)])
    show(con, reproduce=reproduce, page="export_zigzag")


if __name__ == "__main__":
    main()
