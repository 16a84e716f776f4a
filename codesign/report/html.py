"""Interactive Pareto report (plotly, self-contained HTML: it renders offline).

It reads the run's `Front` and its evaluated points through `codesign.run`, never the files.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from codesign.core.candidates import Candidate, Front
from codesign.hw.family import FAMILIES
from codesign.run import open_run

_AXES = [
    ("latency_ms", "latency (ms)"),
    ("energy_uj", "energy (uJ)"),
    ("peak_kb", "peak memory (kB)"),
]


def _describe(front: Front, c: Candidate, layer: str) -> str:
    """The family's short tag of how `layer` runs ('' when it has none)."""
    lc = c.cost.layers.get(layer)
    if lc is None or front.family not in FAMILIES:
        return ""
    return FAMILIES.get(front.family).cost_model(None, None).describe(lc)


def _hover(front: Front, rank: int) -> str:
    c = front.candidates[rank]
    lines = [f"<b>Pareto #{rank}</b> (candidate {c.id}, {c.strategy})"]
    est = front.est_accuracy(c)
    if est is not None:
        ft = c.finetuned_accuracy
        ft_s = f"{ft:.2f}%" if ft is not None else "not fine-tuned"
        lines.append(f"accuracy: est. {est:.2f}%, fine-tuned {ft_s}")
    lines.append(
        f"latency {c.latency_ms:.3f} ms, energy {c.energy_uj:.2f} uJ, "
        f"peak {c.peak_kb:.1f} kB (weights {c.weight_kb:.1f} kB)"
    )
    for n, p in zip(front.layers, c.precisions):
        lc = c.cost.layers.get(n)
        where = ""
        if lc is not None and lc.mapping is not None and lc.mapping.kind == "spatial":
            util = lc.mapping.utilization or 0.0
            sp = " ".join(f"{d}{f}" for d, f in (lc.mapping.get("spatial") or {}).items())
            where = f", {lc.mapping.get('dataflow')} [{sp}], util {util:.0%}"
        cyc = lc.cycles if lc else 0.0
        nj = lc.energy_j * 1e9 if lc else 0.0
        wkb = lc.weight_bytes / 1e3 if lc else 0.0
        lines.append(
            f"{html.escape(n)}: {p.label}  {cyc / 1e3:.1f} kcyc, {nj:.0f} nJ, {wkb:.2f} kB{where}"
        )
    return "<br>".join(lines)


def _value(c: Candidate, key: str) -> float:
    return float(getattr(c, key))


def build_figure(front: Front, points: dict[str, Any]) -> go.Figure:
    """The Pareto figure: every feasible evaluated candidate (`points`, as
    `RunDir.evaluated_points` returns them), the front, and fine-tuned re-scores."""
    fp = front.fp_accuracy
    has_acc = fp is not None
    feas = points["feasible"] if len(points.get("id", [])) else np.zeros(0, dtype=bool)
    y_cloud = (
        (fp - points["est_accuracy_loss_pp"][feas] if has_acc else points["peak_kb"][feas])
        if feas.any()
        else np.zeros(0)
    )
    cands = front.candidates
    y_front = [front.est_accuracy(c) if has_acc else c.peak_kb for c in cands]
    ft = [r for r, c in enumerate(cands) if c.finetuned_accuracy is not None]
    x0 = _AXES[0][0]
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=points[x0][feas] if feas.any() else [],
            y=y_cloud,
            mode="markers",
            name=f"evaluated ({int(feas.sum())} feasible)",
            marker={"color": "lightgray", "size": 5},
            hovertemplate="candidate %{text}<extra></extra>",
            text=[str(i) for i in points["id"][feas]] if feas.any() else [],
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[_value(c, x0) for c in cands],
            y=y_front,
            mode="markers",
            name="Pareto front (estimate; the front spans every objective, not just these axes)",
            hovertext=[_hover(front, r) for r in range(len(cands))],
            hoverinfo="text",
            marker={
                "size": 9,
                "color": [c.peak_kb for c in cands],
                "colorscale": "Viridis",
                "colorbar": {"title": "peak kB"},
                "showscale": True,
            },
        )
    )
    if ft:
        fig.add_trace(
            go.Scatter(
                x=[_value(cands[r], x0) for r in ft],
                y=[cands[r].finetuned_accuracy for r in ft],
                mode="markers",
                name="fine-tuned (held-out)",
                marker={"symbol": "diamond", "size": 11, "color": "crimson"},
                hovertext=[_hover(front, r) for r in ft],
                hoverinfo="text",
            )
        )
    if has_acc:
        fig.add_hline(y=fp, line_dash="dot", annotation_text=f"full precision {fp:.2f}%")
    buttons = []
    for key, label in _AXES:
        xs = [points[key][feas] if feas.any() else [], [_value(c, key) for c in cands]]
        if ft:
            xs.append([_value(cands[r], key) for r in ft])
        buttons.append(
            {
                "label": label,
                "method": "update",
                "args": [{"x": xs}, {"xaxis": {"title": {"text": label}}}],
            }
        )
    fig.update_layout(
        title=f"{front.workload} on {front.hardware}: Pareto front",
        xaxis_title=_AXES[0][1],
        yaxis_title="accuracy (%)" if has_acc else "peak memory (kB)",
        updatemenus=[
            {
                "buttons": buttons,
                "direction": "down",
                "x": 1.0,
                "y": 1.15,
                "xanchor": "right",
                "showactive": True,
            }
        ],
        template="plotly_white",
        height=620,
        hoverlabel={"align": "left"},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def _f(v: float | None, d: int = 2) -> str:
    return "-" if v is None else f"{v:.{d}f}"


def _table(front: Front) -> str:
    head = ["#", "est. acc %", "fine-tuned %", "latency ms", "energy uJ", "peak kB"] + [
        html.escape(n) for n in front.layers
    ]
    rows = []
    for r, c in enumerate(front.candidates):
        cells = [
            str(r),
            _f(front.est_accuracy(c)),
            _f(c.finetuned_accuracy),
            _f(c.latency_ms, 3),
            _f(c.energy_uj),
            _f(c.peak_kb, 1),
        ]
        for n, p in zip(front.layers, c.precisions):
            tag = _describe(front, c, n) if c.mapping is not None else ""
            cells.append(p.label + (f" {tag}" if tag else ""))
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _loops(levels: dict[str, Any]) -> str:
    """'PE: OY2 OX4 | GLB: K3 C2 | DRAM: -' from a mapping's per-level factors or names."""

    def text(v: dict[str, int] | str) -> str:
        return " ".join(f"{d}{f}" for d, f in v.items()) if isinstance(v, dict) else v

    return " | ".join(f"{lv}: {text(v) or '-'}" for lv, v in levels.items())


def _mappings(front: Front) -> str:
    """Per Pareto point, each layer's loop-nest mapping in full (spatial accelerators; '' on
    MCUs): dataflow, unrolling, tiling and loop order per level, operands that skip a level."""
    parts = []
    for r, c in enumerate(front.candidates):
        rows = []
        for n, p in zip(front.layers, c.precisions):
            lc = c.cost.layers.get(n)
            mp = lc.mapping if lc is not None else None
            if mp is None or mp.kind != "spatial":
                continue
            byp = mp.get("bypass") or {}
            skips = "; ".join(f"{lv}: {' '.join(ops)}" for lv, ops in byp.items())
            cells = [
                html.escape(n),
                p.label,
                html.escape(str(mp.get("dataflow"))),
                " ".join(f"{d}{f}" for d, f in (mp.get("spatial") or {}).items()),
                _loops(mp.get("tiling") or {}),
                html.escape(_loops(mp.get("loop_order") or {})),
                skips or "-",
                html.escape(mp.choice),
            ]
            rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
        if rows:
            head = [
                "layer",
                "bits",
                "dataflow",
                "unrolling",
                "tiling",
                "loop order",
                "bypass",
                "kept as",
            ]
            parts.append(
                f"<details><summary>#{r}</summary><table><thead><tr>"
                + "".join(f"<th>{h}</th>" for h in head)
                + "</tr></thead><tbody>"
                + "".join(rows)
                + "</tbody></table></details>"
            )
    if not parts:
        return ""
    return "<h3>Mappings of the Pareto points</h3>\n" + "\n".join(parts)


def write_report(run_dir: str | Path) -> Path:
    """Write ``pareto.html`` in `run_dir` from its front and evaluated points; returns it."""
    run_dir = Path(run_dir)
    rd = open_run(run_dir)
    front = rd.load_front()
    fig = build_figure(front, rd.evaluated_points())
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    title = f"{html.escape(front.workload)} on {html.escape(front.hardware)}"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>codesign: {title}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head>
<body><h2>{title}</h2>
<p>Objectives: {", ".join(o.value for o in front.objectives)}. Strategy: {front.strategy}.
Accuracies in percent on held-out data; per-layer bits as w(weight)a(activation). Hover a
point for its per-layer bits and costs; the menu at the top right switches the x axis. Export
a row with <code>codesign export {html.escape(str(run_dir))} --pick N</code>.</p>
{body}
<h3>Pareto front</h3>
{_table(front)}
{_mappings(front)}
</body></html>
"""
    out = run_dir / "pareto.html"
    out.write_text(page)
    return out
