"""`codesign compare RUN_A RUN_B [...]`: several runs on one page.

Runs may differ in strategy, granularity, hardware or seed. The page holds:
- one scatter per pair of objectives the runs share (each run's front, one colour and marker per
  run), with accuracy shown as accuracy: fine-tuned points filled, estimated ones hollow;
- a table per run: workload, hardware, strategy, granularity, seed, Pareto points, distinct
  candidates evaluated, fine-tunes, wall time (start to finish, from run.json), and the
  hypervolume of its front over the shared objectives (normalised over every run's front,
  reference 1.1), on the estimates the search used and, where every run fine-tuned points, on
  the fine-tuned points alone.

One self-contained HTML file: plotly.js is embedded once, however many figures.
"""

from __future__ import annotations

import html
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from codesign.config import ExploreConfig
from codesign.core.candidates import Front
from codesign.core.errors import RunError
from codesign.core.files import write_text_atomic
from codesign.core.pareto import hypervolume
from codesign.core.types import Objective
from codesign.run import open_run

# Okabe-Ito, readable for colour-blind readers
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon")
LABELS = {
    Objective.ACCURACY_LOSS: "accuracy loss (pp)",
    Objective.LATENCY: "latency (ms)",
    Objective.ENERGY: "energy (uJ)",
    Objective.MEMORY: "peak memory (kB)",
    Objective.AREA: "area (mm2)",
}


def _matrix(front: Front, objs: list[Objective], tuned: bool) -> np.ndarray:
    rows = []
    for c in front.candidates:
        v = [front.objective_value(c, o, measured=tuned) for o in objs]
        if all(x is not None for x in v):
            rows.append(v)
    return np.array(rows, dtype=np.float64).reshape(-1, len(objs))


def _wall_s(info: dict[str, Any]) -> float | None:
    try:
        a = datetime.fromisoformat(info["started"])
        b = datetime.fromisoformat(info["finished"])
    except (KeyError, TypeError, ValueError):
        return None
    return (b - a).total_seconds()


def _name(path: Path, cfg: ExploreConfig) -> str:
    return f"{path.name} ({cfg.strategy}, {cfg.granularity}, seed {cfg.seed})"


def write_compare(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write the comparison page of `run_dirs` to `out`; returns it. `RunError` when a folder
    is not a finished run or the runs share fewer than two objectives."""
    if len(run_dirs) < 2:
        raise RunError("compare: give at least two run directories")
    runs = []
    for d in run_dirs:
        p = Path(d)
        rd = open_run(p)
        if not (p / "pareto.json").exists():
            raise RunError(f"compare: {p} has no front yet (pareto.json); is the run finished?")
        runs.append((p, rd.load_front(), rd.read_info(), ExploreConfig.from_run(p)))
    shared = [o for o in runs[0][1].objectives if all(o in f.objectives for _, f, _, _ in runs)]
    if len(shared) < 2:
        raise RunError(
            "compare: the runs share fewer than two objectives ("
            + "; ".join(
                f"{p.name}: {', '.join(o.value for o in f.objectives)}" for p, f, _, _ in runs
            )
            + ")"
        )
    est = [_matrix(f, shared, tuned=False) for _, f, _, _ in runs]
    tuned = [_matrix(f, shared, tuned=True) for _, f, _, _ in runs]
    every = np.vstack([m for m in est if len(m)])
    ideal, nadir = every.min(axis=0), every.max(axis=0)
    all_tuned = all(len(m) for m in tuned)
    if all_tuned:
        t_every = np.vstack(tuned)
        t_ideal, t_nadir = t_every.min(axis=0), t_every.max(axis=0)
    figures = []
    for a, b in itertools.combinations(range(len(shared)), 2):
        fig = go.Figure()
        for i, (p, _f, _, cfg) in enumerate(runs):
            colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
            m = est[i]
            fig.add_trace(
                go.Scatter(
                    x=m[:, a], y=m[:, b], mode="markers", name=_name(p, cfg) + " est.",
                    marker=dict(color=colour, symbol=marker + "-open", size=8),
                )
            )  # fmt: skip
            if len(tuned[i]):
                t = tuned[i]
                fig.add_trace(
                    go.Scatter(
                        x=t[:, a], y=t[:, b], mode="markers", name=_name(p, cfg) + " fine-tuned",
                        marker=dict(color=colour, symbol=marker, size=9),
                    )
                )  # fmt: skip
        fig.update_layout(
            xaxis_title=LABELS[shared[a]],
            yaxis_title=LABELS[shared[b]],
            height=480,
            margin=dict(l=60, r=20, t=30, b=50),
            legend=dict(font=dict(size=11)),
        )
        figures.append(fig)
    rows = []
    for i, (p, f, info, cfg) in enumerate(runs):
        wall = _wall_s(info)
        tunes = sum(c.finetuned is not None for c in f.candidates)
        if "inloop" in info:
            tunes = info["inloop"].get("measured", tunes)
        hv = hypervolume(est[i], ideal, nadir) if len(est[i]) else 0.0
        hv_t = hypervolume(tuned[i], t_ideal, t_nadir) if all_tuned else None
        rows.append(
            [
                html.escape(_name(p, cfg)),
                html.escape(f.workload),
                html.escape(f.hardware),
                str(len(f)),
                f"{f.evaluated:,}",
                str(tunes),
                "-" if wall is None else f"{wall:.0f}",
                f"{hv:.4f}",
                "-" if hv_t is None else f"{hv_t:.4f}",
            ]
        )
    head = ["run", "workload", "hardware", "Pareto points", "evaluated", "fine-tunes",
            "wall s", "HV (search's estimates)", "HV (fine-tuned points)"]  # fmt: skip
    table = "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    table += "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    table += "</table>"
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=(k == 0)) for k, fig in enumerate(figures)
    ]
    objs = ", ".join(o.value for o in shared)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>codesign: {len(runs)} runs compared</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head>
<body><h2>{len(runs)} runs compared</h2>
<p>Shared objectives: {objs}. Hypervolume over them, normalised over every run's front
(reference 1.1): the search's estimates, and the fine-tuned points alone where every run has
some. Hollow markers: estimated accuracy; filled: fine-tuned on held-out data.</p>
{table}
{"".join(parts)}
</body></html>
"""
    out = Path(out)
    write_text_atomic(out, page)  # creates the folder
    return out
