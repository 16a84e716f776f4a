"""Interactive Pareto report (plotly, self-contained HTML: it renders offline)."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from codesign.core.errors import RunError

_AXES = [
    ("latency_ms", "latency (ms)"),
    ("energy_uj", "energy (uJ)"),
    ("peak_kb", "peak memory (kB)"),
]


def _hover(p: dict[str, Any], layers: list[str]) -> str:
    lines = [f"<b>Pareto #{p['rank']}</b> (candidate {p['id']})"]
    if p.get("est_accuracy") is not None:
        ft = p.get("finetuned_accuracy")
        ft_s = f"{ft:.2f}%" if ft is not None else "not fine-tuned"
        lines.append(f"accuracy: est. {p['est_accuracy']:.2f}%, fine-tuned {ft_s}")
    lines.append(
        f"latency {p['latency_ms']:.3f} ms, energy {p['energy_uj']:.2f} uJ, "
        f"peak {p['peak_kb']:.1f} kB (weights {p['weight_kb']:.1f} kB)"
    )
    for n in layers:
        c = p["per_layer"].get(n, {})
        mp = c.get("mapping")
        where = ""
        if mp:
            sp = " ".join(f"{d}{f}" for d, f in mp["spatial"].items())
            where = f", {mp['dataflow']} [{sp}], util {c.get('utilization', 0):.0%}"
        lines.append(
            f"{html.escape(n)}: w{p['weight_bits'][n]}/a{p['act_bits'][n]}  "
            f"{c.get('cycles', 0) / 1e3:.1f} kcyc, {c.get('energy_nj', 0):.0f} nJ, "
            f"{c.get('weight_bytes', 0) / 1e3:.2f} kB{where}"
        )
    return "<br>".join(lines)


def _read_candidates(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def build_figure(pareto: dict[str, Any], candidates: list[dict[str, str]]) -> go.Figure:
    """The Pareto figure: every feasible candidate, the front, and fine-tuned re-scores."""
    layers = pareto["layers"]
    front = pareto["candidates"]
    fp = pareto.get("fp_accuracy")
    has_acc = fp is not None
    feas = [c for c in candidates if c.get("feasible") == "True"]

    def y_of_cand(c: dict[str, str]) -> float:
        return fp - float(c["est_accuracy_loss_pp"]) if has_acc else float(c["peak_kb"])

    y_front = [p["est_accuracy"] if has_acc else p["peak_kb"] for p in front]
    ft = [p for p in front if p.get("finetuned_accuracy") is not None]
    x0 = _AXES[0][0]
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=[float(c[x0]) for c in feas],
            y=[y_of_cand(c) for c in feas],
            mode="markers",
            name=f"evaluated ({len(feas)} feasible)",
            marker={"color": "lightgray", "size": 5},
            hovertemplate="candidate %{text}<extra></extra>",
            text=[c["id"] for c in feas],
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[p[x0] for p in front],
            y=y_front,
            mode="markers",
            name="Pareto front (estimate; the front spans every objective, not just these axes)",
            hovertext=[_hover(p, layers) for p in front],
            hoverinfo="text",
            marker={
                "size": 9,
                "color": [p["peak_kb"] for p in front],
                "colorscale": "Viridis",
                "colorbar": {"title": "peak kB"},
                "showscale": True,
            },
        )
    )
    if ft:
        fig.add_trace(
            go.Scatter(
                x=[p[x0] for p in ft],
                y=[p["finetuned_accuracy"] for p in ft],
                mode="markers",
                name="fine-tuned (held-out)",
                marker={"symbol": "diamond", "size": 11, "color": "crimson"},
                hovertext=[_hover(p, layers) for p in ft],
                hoverinfo="text",
            )
        )
    if has_acc:
        fig.add_hline(y=fp, line_dash="dot", annotation_text=f"full precision {fp:.2f}%")
    buttons = []
    for key, label in _AXES:
        xs = [[float(c[key]) for c in feas], [p[key] for p in front]]
        if ft:
            xs.append([p[key] for p in ft])
        buttons.append(
            {
                "label": label,
                "method": "update",
                "args": [{"x": xs}, {"xaxis": {"title": {"text": label}}}],
            }
        )
    fig.update_layout(
        title=f"{pareto['workload']} on {pareto['hardware']}: Pareto front",
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


def _short_mapping(p: dict[str, Any], layer: str) -> str:
    """' RS K16xOY14'-style tag of a layer's mapping on a spatial accelerator ('' on MCUs)."""
    mp = p["per_layer"].get(layer, {}).get("mapping")
    if not mp:
        return ""
    flow = "".join(w[0].upper() for w in mp["dataflow"].split("_")[:2])
    sp = "x".join(f"{d}{f}" for d, f in mp["spatial"].items())
    return f" {flow} {sp}"


def _table(pareto: dict[str, Any]) -> str:
    layers = pareto["layers"]
    head = ["#", "est. acc %", "fine-tuned %", "latency ms", "energy uJ", "peak kB"] + [
        html.escape(n) for n in layers
    ]
    rows = []
    for p in pareto["candidates"]:

        def f(v: Any, d: int = 2) -> str:
            return "-" if v is None else f"{v:.{d}f}"

        cells = [
            str(p["rank"]),
            f(p["est_accuracy"]),
            f(p["finetuned_accuracy"]),
            f(p["latency_ms"], 3),
            f(p["energy_uj"]),
            f(p["peak_kb"], 1),
        ]
        cells += [
            f"w{p['weight_bits'][n]}a{p['act_bits'][n]}{_short_mapping(p, n)}" for n in layers
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _loops(levels: dict[str, dict[str, int]]) -> str:
    """'PE: OY2 OX4 | GLB: K3 C2 | DRAM: -' from a mapping's per-level factors or names."""

    def text(v: dict[str, int] | str) -> str:
        return " ".join(f"{d}{f}" for d, f in v.items()) if isinstance(v, dict) else v

    return " | ".join(f"{lv}: {text(v) or '-'}" for lv, v in levels.items())


def _mappings(pareto: dict[str, Any]) -> str:
    """Per Pareto point, each layer's mapping in full (spatial accelerators; '' on MCUs):
    dataflow, unrolling, tiling and loop order per level, operands that skip a level."""
    layers = pareto["layers"]
    parts = []
    for p in pareto["candidates"]:
        rows = []
        for n in layers:
            mp = p["per_layer"].get(n, {}).get("mapping")
            if not mp:
                continue
            skips = "; ".join(f"{lv}: {' '.join(ops)}" for lv, ops in mp.get("bypass", {}).items())
            cells = [
                html.escape(n),
                f"w{p['weight_bits'][n]}a{p['act_bits'][n]}",
                html.escape(mp["dataflow"]),
                " ".join(f"{d}{f}" for d, f in mp["spatial"].items()),
                _loops(mp["tiling"]),
                html.escape(_loops(mp["loop_order"])),
                skips or "-",
                html.escape(mp.get("choice", "")),
            ]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
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
                f"<details><summary>#{p['rank']}</summary><table><thead><tr>"
                + "".join(f"<th>{h}</th>" for h in head)
                + "</tr></thead><tbody>"
                + "".join(rows)
                + "</tbody></table></details>"
            )
    if not parts:
        return ""
    return "<h3>Mappings of the Pareto points</h3>\n" + "\n".join(parts)


def write_report(run_dir: str | Path) -> Path:
    """Write ``pareto.html`` in `run_dir` from pareto.json and candidates.csv; returns its path."""
    run_dir = Path(run_dir)
    pf = run_dir / "pareto.json"
    if not pf.exists():
        raise RunError(f"{run_dir}: no pareto.json; the run did not reach the Pareto front")
    pareto = json.loads(pf.read_text())
    fig = build_figure(pareto, _read_candidates(run_dir / "candidates.csv"))
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    title = f"{html.escape(pareto['workload'])} on {html.escape(pareto['hardware'])}"
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>codesign: {title}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}</style></head>
<body><h2>{html.escape(pareto["workload"])} on {html.escape(pareto["hardware"])}</h2>
<p>Objectives: {", ".join(pareto["objectives"])}. Accuracies in percent on held-out data;
per-layer bits as w(weight)a(activation). Hover a point for its per-layer bits and costs;
the menu at the top right switches the x axis. Export a row with
<code>codesign export {html.escape(str(run_dir))} --pick N</code>.</p>
{body}
<h3>Pareto front</h3>
{_table(pareto)}
{_mappings(pareto)}
</body></html>
"""
    out = run_dir / "pareto.html"
    out.write_text(page)
    return out
