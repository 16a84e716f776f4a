"""Command line: parses arguments and calls the public Python API; nothing else lives here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from codesign.core.errors import CodesignError

MAX_ROWS = 30  # Pareto rows printed; the run directory holds all of them


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got '{text}'"
        ) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="codesign",
        description="Hardware-aware co-design of quantized neural networks: search per-layer "
        "bit-widths (and mappings) for the best accuracy / latency / energy / memory on a chip.",
    )
    from codesign import __version__

    p.add_argument("--version", action="version", version=f"codesign {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser(
        "explore",
        help="search bit-widths for a workload on a hardware model",
        description="Extract the workload's layer graph, price every precision on "
        "the hardware, run NSGA-II, fine-tune the Pareto points, write a report.",
    )
    e.add_argument(
        "--hw", required=True, help="hardware YAML (e.g. hw_models/mpic.yaml) or a bundled name"
    )
    e.add_argument(
        "--workload",
        default="digits_cnn",
        help="registered workload (see `codesign workloads`) or package.module:function",
    )
    e.add_argument(
        "--input-shape",
        type=_shape,
        default=None,
        help="input shape incl. batch, e.g. 1,3,32,32 (for a user model)",
    )
    e.add_argument(
        "--objectives",
        default=None,
        help="comma-separated, among accuracy_loss, latency, energy, memory "
        "(default: accuracy_loss,latency,memory; latency,memory without data)",
    )
    e.add_argument("--seed", type=int, default=0, help="random seed (same seed, same front)")
    e.add_argument("--pop-size", type=int, default=64, help="NSGA-II population size")
    e.add_argument("--generations", type=int, default=40, help="NSGA-II generations")
    e.add_argument(
        "--finetune-top",
        type=int,
        default=6,
        help="Pareto points re-scored by a short quantized fine-tune (0 = none)",
    )
    e.add_argument("--finetune-steps", type=int, default=300, help="optimiser steps per fine-tune")
    e.add_argument(
        "--recipe",
        default="qat",
        help="fine-tune recipe: qat, or kd / progressive / stochastic joined with + "
        "(default: qat; on digits the others did not beat it, see benchmarks/)",
    )
    e.add_argument(
        "--workers",
        type=int,
        default=1,
        help="Dask LocalCluster worker processes for fine-tunes (1 = in-process)",
    )
    e.add_argument(
        "--scheduler",
        default=None,
        help="address of an existing Dask scheduler, e.g. tcp://host:8786",
    )
    e.add_argument(
        "--data",
        default=None,
        help="local dataset folder for workloads whose data does not ship with "
        "codesign (resnet8: CIFAR-10 python batches; dscnn: Speech Commands)",
    )
    e.add_argument(
        "--estimator",
        choices=("proxy", "supernet", "finetune"),
        default=None,
        help="accuracy estimator during the search (default: supernet, the best ranked "
        "against fine-tunes in benchmarks/bench_estimator_fidelity.py)",
    )
    e.add_argument("--supernet-steps", type=int, default=2000, help="supernet training steps")
    e.add_argument(
        "--weights",
        default=None,
        help="trained full-precision state dict (torch.save) to start from instead "
        "of training one here",
    )
    e.add_argument("--out", default=None, help="run directory (default: results/<run-id>)")
    e.add_argument(
        "--results-dir", default="results", help="parent of run directories and the model cache"
    )

    w = sub.add_parser(
        "workloads",
        help="list the bundled workloads with MACs and weights",
        description="List every registered workload with its MACs and weight count.",
    )
    w.add_argument("--json", action="store_true", help="print JSON instead of a table")

    x = sub.add_parser(
        "export",
        help="export a Pareto point of a run as a quant config",
        description="Write Pareto point N of RUN_DIR as a versioned config that "
        "codesign.quant.apply_config(model, config) applies, or (--switchable) one weight set "
        "with every Pareto point as a run-time operating mode "
        "(codesign.quant.switchable.load_switchable).",
    )
    x.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory written by `codesign explore`"
    )
    x.add_argument(
        "--pick", type=int, default=None, help="the # of the Pareto point (see the summary)"
    )
    x.add_argument(
        "--switchable",
        action="store_true",
        help="write one weight set and a table of operating modes (every Pareto point) "
        "instead; needs a run with --estimator supernet",
    )
    x.add_argument("--format", choices=("yaml", "json"), default="yaml", help="file format")
    x.add_argument(
        "-o", "--output", default=None, help="output file (default: RUN_DIR/config-N.FMT)"
    )

    sn = sub.add_parser(
        "supernet",
        help="train the switchable-precision supernet of a workload on a hardware model",
        description="Supernet commands.",
    )
    sn_sub = sn.add_subparsers(dest="supernet_command", required=True, metavar="COMMAND")
    st = sn_sub.add_parser(
        "train",
        help="train (or find cached) the supernet; later runs reuse it",
        description="Train once a network whose layers switch bit-width at run time "
        "(Bit-Mixer transitional batch-norms, SP-Nets in-place distillation), stored under "
        "RESULTS_DIR/cache and found again by `explore --estimator supernet`.",
    )
    st.add_argument("--hw", required=True, help="hardware YAML or bundled name")
    st.add_argument("--workload", default="digits_cnn", help="workload name or module:function")
    st.add_argument("--steps", type=int, default=2000, help="training steps")
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--data", default=None, help="local dataset folder (see explore --help)")
    st.add_argument("--weights", default=None, help="trained full-precision state dict")
    st.add_argument("--results-dir", default="results")
    st.add_argument("--input-shape", type=_shape, default=None)

    r = sub.add_parser(
        "report",
        help="regenerate pareto.html of a run",
        description="Rebuild the interactive report of RUN_DIR from its files.",
    )
    r.add_argument("run_dir", metavar="RUN_DIR")
    return p


def _cmd_explore(args: argparse.Namespace, console: Console) -> int:
    from codesign.explore import explore

    res = explore(
        hw=args.hw,
        workload=args.workload,
        objectives=args.objectives,
        seed=args.seed,
        pop_size=args.pop_size,
        generations=args.generations,
        finetune_top=args.finetune_top,
        finetune_steps=args.finetune_steps,
        recipe=args.recipe,
        workers=args.workers,
        scheduler=args.scheduler,
        data=args.data,
        weights=args.weights,
        estimator=args.estimator,
        supernet_steps=args.supernet_steps,
        out=args.out,
        results_dir=args.results_dir,
        input_shape=args.input_shape,
        console=console,
    )
    t = Table(title=f"Pareto front: {len(res.front)} points of {res.evaluated} evaluated")
    has_acc = res.fp_accuracy is not None
    t.add_column("#", justify="right", no_wrap=True, min_width=3)
    if has_acc:
        t.add_column("est.\nacc %", justify="right", no_wrap=True)
        t.add_column("tuned\nacc %", justify="right", no_wrap=True)
    for col in ("latency\nms", "energy\nuJ", "peak\nkB"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("weight bits\nper layer", no_wrap=True)
    t.add_column("act bits\nper layer", no_wrap=True)
    spatial = any(p.get("mapping_choice") for p in res.front)
    if spatial:
        t.add_column("mapping\nper layer", no_wrap=True)
    shown = res.front
    if len(shown) > MAX_ROWS:  # a spread along the front, plus every fine-tuned point
        keep = set(np.linspace(0, len(shown) - 1, MAX_ROWS).round().astype(int).tolist())
        keep |= {p["rank"] for p in shown if p.get("finetuned_accuracy") is not None}
        shown = [p for p in shown if p["rank"] in keep]
        t.caption = f"{len(shown)} of {len(res.front)} points shown; all are in pareto.csv"
    for p in shown:
        names = list(p["weight_bits"])
        wbits = "".join(str(p["weight_bits"][n]) for n in names)
        abits = "".join(str(p["act_bits"][n]) for n in names)
        row = [str(p["rank"])]
        if has_acc:
            ft = p["finetuned_accuracy"]
            row += [f"{p['est_accuracy']:.2f}", "-" if ft is None else f"{ft:.2f}"]
        row += [
            f"{p['latency_ms']:.3f}",
            f"{p['energy_uj']:.2f}",
            f"{p['peak_kb']:.1f}",
            wbits,
            abits,
        ]
        if spatial:
            row.append("".join("ELDO"[p["mapping_choice"][n]] for n in names))
        t.add_row(*row)
    out = Console() if sys.stdout.isatty() else Console(width=120)  # pipes: no truncation
    out.print(t)
    out.print("bits per layer: one digit per quantizable layer, in execution order")
    if spatial:
        out.print(
            "mapping per layer: the mapper's best for E(nergy), L(atency), "
            "D (energy-delay), or O (best of another dataflow); details in the report"
        )
    if has_acc:
        out.print(f"full precision: {res.fp_accuracy:.2f}% on held-out data")
    out.print(f"report: {res.run_dir / 'pareto.html'}")
    out.print(f"export a point: codesign export {res.run_dir} --pick N")
    return 0


def _cmd_workloads(args: argparse.Namespace, console: Console) -> int:
    from codesign.workload import extract, list_workloads

    rows = []
    for w in list_workloads():
        g = extract(w.build(), w.example_input(), w.name)
        rows.append(
            {
                "name": w.name,
                "macs": g.total_macs,
                "weights": g.total_weights,
                "layers": len(g.quantizable),
                "input_shape": list(w.input_shape),
                "dataset": w.dataset,
                "description": w.description,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title="workloads")
    for c in ("name", "MACs", "weights", "quantizable layers", "input", "data"):
        t.add_column(
            c, justify="right" if c in ("MACs", "weights", "quantizable layers") else "left"
        )
    for r in rows:
        t.add_row(
            r["name"],
            f"{r['macs']:,}",
            f"{r['weights']:,}",
            str(r["layers"]),
            "x".join(map(str, r["input_shape"])),
            r["dataset"] or "-",
        )
    Console().print(t)
    return 0


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from codesign.export import export_config
    from codesign.quant.switchable import export_switchable

    if args.switchable:
        out = export_switchable(args.run_dir, args.output)
        Console().print(f"wrote {out}/weights.pt and {out}/modes.yaml")
        return 0
    if args.pick is None:
        console.print("[bold red]error:[/] give --pick N (or --switchable)")
        return 2
    path = export_config(args.run_dir, args.pick, args.output, args.format)
    Console().print(f"wrote {path}")
    return 0


def _cmd_supernet(args: argparse.Namespace, console: Console) -> int:
    from codesign.explore import supernet_train

    res = supernet_train(
        hw=args.hw,
        workload=args.workload,
        steps=args.steps,
        seed=args.seed,
        data=args.data,
        weights=args.weights,
        results_dir=args.results_dir,
        input_shape=args.input_shape,
        console=console,
    )
    t = Table(
        title=f"supernet accuracy on held-out data, uniform settings "
        f"(full precision {res['fp_accuracy']:.2f}%)"
    )
    t.add_column("act bits", justify="right")
    t.add_column("weight bits", justify="right")
    t.add_column("accuracy %", justify="right")
    for row in res["uniform"]:
        t.add_row(str(row["act_bits"]), str(row["weight_bits"]), f"{row['accuracy']:.2f}")
    out = Console()
    out.print(t)
    out.print(f"supernet {'found in' if res['cached'] else 'saved to'} {res['path']}")
    return 0


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from codesign.report.html import write_report

    Console().print(f"wrote {write_report(Path(args.run_dir))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``codesign`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    cmd = {
        "explore": _cmd_explore,
        "workloads": _cmd_workloads,
        "export": _cmd_export,
        "report": _cmd_report,
        "supernet": _cmd_supernet,
    }[args.command]
    try:
        return cmd(args, console)
    except CodesignError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything computed so far is in the run directory[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
