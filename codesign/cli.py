"""Command line: parses arguments and calls the public Python API; nothing else lives here."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, get_args, get_origin

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from codesign.config import cli_fields
from codesign.core.errors import CodesignError

PER_LAYER_WIDTH = 24  # characters of a per-layer bits / mapping string shown (full in pareto.csv)
MAX_ROWS = 30  # Pareto rows printed; the run directory holds all of them


def _shape(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got '{text}'"
        ) from None


def _flag_type(annotation: Any) -> Any:
    """The argparse type of a config field's annotation (the config validates the rest)."""
    args = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0]
    if base is int:
        return int
    if get_origin(base) is tuple:
        return _shape if get_args(base)[0] is int else str
    return str


def _config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per `ExploreConfig` field: --pop-size for pop_size, its description as help."""
    for name, f in cli_fields().items():
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=_flag_type(f.annotation),
            default=None,
            help=_flag_help(f.description or "", f.default),
        )


def _flag_help(description: str, default: Any) -> str:
    """A config field's help: its description, then its default unless the description
    already says it (a field without a default, None, says nothing more)."""
    if "default" in description or default is None:
        return description
    if isinstance(default, (tuple, list)):
        default = ",".join(map(str, default))
    return f"{description} (default: {default})"


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
        help="search bit-widths (and mappings) for a workload on a hardware model",
        description="Extract the workload's layer graph, price every precision on the "
        "hardware, search, fine-tune the Pareto points, write a report. Every flag is a field "
        "of the run's config (codesign.config.ExploreConfig): --config FILE.yaml gives them "
        "from a file (flags override it); --resume RUN_DIR continues a run that stopped. "
        "A workload without data (see `codesign workloads`; none given with --data) makes a "
        "cost-only run: latency / energy / memory, no accuracy axis, nothing fine-tuned.",
    )
    e.add_argument("--config", default=None, help="a YAML config file (fields as the flags)")
    e.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its last checkpoint (its config must match)",
    )
    _config_flags(e)

    w = sub.add_parser(
        "workloads",
        help="list the bundled workloads (--macs: with MACs and weights)",
        description="List every bundled workload: input shape, the dataset that ships with "
        "codesign (none: a cost-only run, which searches latency / energy / memory without an "
        "accuracy axis unless you give --data), description. --macs adds MACs, weights and "
        "quantizable layers (it builds each network).",
    )
    w.add_argument("--json", action="store_true", help="print JSON instead of a table")
    w.add_argument(
        "--macs",
        action="store_true",
        help="also build and extract each network for its MACs, weights and quantizable layers "
        "(imports torch: seconds; the plain list reads the registrations only)",
    )

    x = sub.add_parser(
        "export",
        help="export a Pareto point of a run (config, ONNX QDQ, QONNX, Brevitas, ZigZag, Timeloop, "
        "hardware file)",
        description="Write Pareto point N of RUN_DIR as a versioned config that "
        "codesign.quant.apply_config(model, config) applies, in a deployable format, or "
        "(--format switchable) one weight set with every Pareto point as a run-time operating "
        "mode (codesign.exporters.switchable.load_switchable).",
    )
    x.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory written by `codesign explore`"
    )
    x.add_argument(
        "--pick", type=int, default=None, help="the # of the Pareto point (see the summary)"
    )
    x.add_argument(
        "--format",
        default="config",
        help="config (YAML; also yaml, json), onnx-qdq (ONNX QuantizeLinear / DequantizeLinear, "
        "checked in onnxruntime), qonnx (Quant nodes, checked with qonnx), brevitas, zigzag "
        "(workload YAML), timeloop (v4 problems), switchable (one weight set, every Pareto point "
        "a run-time mode; no --pick; needs a run with --estimator supernet), hw (the point's "
        "hardware file, of a run with --hw-space)",
    )
    x.add_argument(
        "-o",
        "--output",
        default=None,
        help="output file (default, in RUN_DIR: config-N.yaml / config-N.json for config, yaml, "
        "json; point-N.onnx for onnx-qdq; point-N.qonnx.onnx; point-N.brevitas.pt; "
        "point-N.zigzag.yaml; the folder point-N.timeloop/ for timeloop; the folder switchable/ "
        "for switchable; hw-N.yaml for hw)",
    )
    for flag in ("workload", "data"):  # a run folder's own module names are never imported
        x.add_argument(
            f"--{flag}",
            default=None,
            help=f"the run's --{flag} when it is package.module:function (to import it)",
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
    st.add_argument("--workload", default="mnist1d_cnn", help="workload name or module:function")
    st.add_argument(
        "--steps",
        type=int,
        default=None,
        help="training steps (default: 2000 per layer, 8000 per channel or group)",
    )
    st.add_argument("--seed", type=int, default=0)
    st.add_argument(
        "--data",
        default=None,
        help="package.module:function returning (train, val, test), or a local dataset folder "
        "(see explore --help)",
    )
    st.add_argument("--weights", default=None, help="trained full-precision state dict")
    st.add_argument("--results-dir", default="results")
    st.add_argument("--input-shape", type=_shape, default=None)
    st.add_argument(
        "--granularity",
        default="layer",
        help="layer, channel or group:G: the space the supernet trains on (as explore's flag; "
        "explore --estimator supernet with the same granularity finds it again)",
    )

    ls = sub.add_parser(
        "runs",
        help="list the runs in a results folder with their status",
        description="List every run under RESULTS_DIR: status (a run whose process died shows "
        "as interrupted; resume it with `codesign explore --resume RUN_DIR`), progress, front.",
    )
    ls.add_argument("--results-dir", default="results")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    r = sub.add_parser(
        "report",
        help="regenerate pareto.html of a run",
        description="Rebuild the interactive report of RUN_DIR from its files.",
    )
    r.add_argument("run_dir", metavar="RUN_DIR")

    cmp_ = sub.add_parser(
        "compare",
        help="several runs on one page: fronts, hypervolume, evaluations, wall time",
        description="Write one self-contained HTML page comparing RUN_DIRs (strategies, "
        "granularities, hardware, seeds): a scatter per pair of shared objectives, and per run "
        "its points, evaluations, fine-tunes, wall time and hypervolume.",
    )
    cmp_.add_argument("run_dirs", metavar="RUN_DIR", nargs="+")
    cmp_.add_argument("-o", "--output", default="compare.html", help="the page to write")
    return p


def _cmd_explore(args: argparse.Namespace, console: Console) -> int:
    from codesign.explore import explore

    options = {k: getattr(args, k) for k in cli_fields()}
    res = explore(args.config, resume=args.resume, console=console, **options)
    _print_front(res)
    return 0


def _print_front(res: Any) -> None:
    """The Pareto table of a finished run, and where its files are."""
    from codesign.hw.family import FAMILIES

    front = res.front
    family = FAMILIES.get(front.family) if front.family in FAMILIES else None
    has_acc = front.fp_accuracy is not None
    only = "" if has_acc else " (cost only: no data, no accuracy axis)"
    t = Table(title=f"Pareto front: {len(front)} points of {front.evaluated} evaluated{only}")
    t.add_column("#", justify="right", no_wrap=True, min_width=3)
    num = dict(justify="right", no_wrap=True, min_width=6)  # never squeezed by long bit rows
    per_layer = dict(no_wrap=True, max_width=PER_LAYER_WIDTH, overflow="ellipsis")
    if has_acc:
        t.add_column("est.\nacc %", **num)
        t.add_column("tuned\nacc %", **num)
    for col in ("latency\nms", "energy\nuJ", "peak\nkB"):
        t.add_column(col, **num)
    sized = [c.hardware for c in front.candidates if c.hardware is not None]
    params = [k for k, _ in sized[0]] if sized else []
    if sized:
        t.add_column("area\nmm2", **num)
        t.add_column("hardware", no_wrap=True)
    per_channel = any(len(set(p.weight_bits)) > 1 for c in front.candidates for p in c.precisions)
    if per_channel:
        t.add_column("weights\nkB", **num)
        t.add_column("pruned\nch %", **num)
        t.add_column("mean w bits\nper layer", **per_layer)
    else:
        t.add_column("weight bits\nper layer", **per_layer)
    t.add_column("act bits\nper layer", **per_layer)
    letters = family.mapping_letters if family is not None else ""
    has_map = bool(letters) and any(c.mapping for c in front.candidates)
    if has_map:
        t.add_column("mapping\nper layer", **per_layer)
    ranks = list(range(len(front)))
    if len(ranks) > MAX_ROWS:  # a spread along the front, plus every fine-tuned point
        keep = set(np.linspace(0, len(ranks) - 1, MAX_ROWS).round().astype(int).tolist())
        keep |= {r for r, c in enumerate(front.candidates) if c.finetuned_accuracy is not None}
        ranks = sorted(keep)
        t.caption = f"{len(ranks)} of {len(front)} points shown; all are in pareto.csv"
    for r in ranks:
        c = front.candidates[r]
        row = [str(r)]
        if has_acc:
            ft, est = c.finetuned_accuracy, front.est_accuracy(c)
            row += ["-" if est is None else f"{est:.2f}", "-" if ft is None else f"{ft:.2f}"]
        row += [
            f"{c.latency_ms:.3f}",
            f"{c.energy_uj:.2f}",
            f"{c.peak_kb:.1f}",
        ]
        if sized:
            hp = dict(c.hardware or ())
            row += [
                "-" if c.area_mm2 is None else f"{c.area_mm2:.3f}",
                " ".join(_short(hp.get(k)) for k in params),
            ]
        if per_channel:
            bits = [b for p in c.precisions for b in p.weight_bits]
            row += [
                f"{c.weight_kb:.2f}",
                f"{100.0 * bits.count(0) / len(bits):.0f}",
                " ".join(f"{np.mean(p.weight_bits):.1f}" for p in c.precisions),
            ]
        else:
            row.append("".join(str(b) for b in c.weight_bits))
        row.append("".join(str(b) for b in c.act_bits))
        if has_map:
            row.append("".join(letters[m] for m in c.mapping or ()))
        t.add_row(*row)
    out = Console() if sys.stdout.isatty() else Console(width=120)  # pipes: no truncation
    out.print(t)
    out.print(
        "bits per layer: one entry per quantizable layer, in execution order"
        + ("; mean weight bits over its channels, 0 for a pruned one" if per_channel else "")
    )
    if has_map:
        out.print(family.mapping_legend)
    if sized:
        out.print(
            f"hardware: {', '.join(params)}; each point's hardware file: codesign export "
            f"{res.run_dir} --pick N --format hw"
        )
    if has_acc:
        out.print(f"full precision: {front.fp_accuracy:.2f}% on held-out data")
        errs = front.estimate_errors()
        if errs:
            gap = np.array([ft - est for _, est, ft in errs])
            worst = int(np.abs(gap).argmax())
            out.print(
                f"estimates against fine-tunes ({len(errs)} points): mean |error| "
                f"{np.abs(gap).mean():.2f} pp, {int((np.abs(gap) <= 3).sum())} within 3 pp, "
                f"largest {gap[worst]:+.2f} pp (#{errs[worst][0]})"
            )
    out.print(f"report: {res.run_dir / 'pareto.html'}")
    out.print(f"export a point: codesign export {res.run_dir} --pick N")


def _short(v: float | None) -> str:
    """A hardware parameter value, short: 884736 -> '864K', 12 -> '12'."""
    if v is None:
        return "-"
    if v >= 1024 and v % 1024 == 0:
        return f"{int(v) // 1024}K"
    return f"{v:g}"


def _cmd_runs(args: argparse.Namespace, console: Console) -> int:
    from codesign.run import list_runs

    rows = list_runs(args.results_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title=f"runs in {args.results_dir}")
    names = [Path(r["path"]).name for r in rows]
    # the run id is what a user copies (`--resume`, `export`): never cut, the others wrap
    t.add_column("run", no_wrap=True, min_width=max(map(len, names), default=3))
    for c in ("status", "workload", "hardware", "strategy", "generation", "front"):
        t.add_column(c, overflow="fold")
    for name, r in zip(names, rows):
        gen = "-" if r["generation"] is None else f"{r['generation']}/{r['generations']}"
        front = "-" if r["pareto"] is None else f"{r['pareto']} of {r['evaluated']}"
        t.add_row(
            name,
            r["status"],
            str(r["workload"]),
            str(r["hardware"]),
            str(r["strategy"]),
            gen,
            front,
        )
    _out_console().print(t)
    return 0


def _out_console() -> Console:
    """stdout: the terminal's width, or 120 columns in a pipe (no truncation)."""
    return Console() if sys.stdout.isatty() else Console(width=120)


def _cmd_workloads(args: argparse.Namespace, console: Console) -> int:
    from codesign.workload.catalogue import bundled_workloads

    rows = [
        {
            "name": e.name,
            "input_shape": list(e.input_shape),
            "dataset": e.dataset,
            "description": e.description,
        }
        for e in bundled_workloads()
    ]
    if args.macs:  # builds every network: imports torch
        from codesign.workload import extract, get_workload

        for r in rows:
            w = get_workload(r["name"])
            g = extract(w.build(), w.example_input(), w.name)
            r.update(macs=g.total_macs, weights=g.total_weights, layers=len(g.quantizable))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    t = Table(title="bundled workloads (--workload also takes package.module:function or a .onnx)")
    cols = ["name", "input", "data"]
    if args.macs:
        cols[1:1] = ["MACs", "weights", "quantizable layers"]
    for c in cols:
        right = c in ("MACs", "weights", "quantizable layers")
        t.add_column(c, justify="right" if right else "left", no_wrap=c != "data")
    t.add_column("description")
    for r in rows:
        cells = [r["name"]]
        if args.macs:
            cells += [f"{r['macs']:,}", f"{r['weights']:,}", str(r["layers"])]
        cells += [
            "x".join(map(str, r["input_shape"])),
            r["dataset"] or "none: cost only",
            r["description"],
        ]
        t.add_row(*cells)
    out = _out_console()
    out.print(t)
    if not args.macs:
        out.print("MACs and weights: codesign workloads --macs")
    return 0


def _cmd_export(args: argparse.Namespace, console: Console) -> int:
    from codesign.exporters import export, needs_pick

    if args.pick is None and needs_pick(args.format):
        console.print(f"[bold red]error:[/] --format {args.format} writes one point: give --pick N")
        return 2
    res = export(
        args.run_dir, args.pick, args.format, args.output, workload=args.workload, data=args.data
    )
    out = Console()
    for p in res.paths:
        out.print(f"wrote {p}")
    if res.checks:
        t = Table(title=f"checks of {res.path.name}", show_header=False)
        for k, v in res.checks.items():
            t.add_row(k.replace("_", " "), f"{v:.6g}" if isinstance(v, float) else str(v))
        out.print(t)
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
        granularity=args.granularity,
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


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    from codesign.report.compare import write_compare

    Console().print(f"wrote {write_compare(args.run_dirs, args.output)}")
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
        "compare": _cmd_compare,
        "supernet": _cmd_supernet,
        "runs": _cmd_runs,
    }[args.command]
    try:
        return cmd(args, console)
    except CodesignError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything computed so far is in the run directory[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
