"""Interactive Pareto report (plotly, self-contained HTML: it renders offline).

It reads the run's `Front` and its evaluated points through `codesign.run`, never the files.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from codesign.core.candidates import Candidate, Front
from codesign.core.files import write_text_atomic
from codesign.hw.family import FAMILIES
from codesign.run import open_run

HOVER_LAYERS = 12  # per-layer lines in a point's hover; the drill-down shows them all
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
    return FAMILIES.get(front.family).describe(lc)


def _details(front: Front, c: Candidate, layer: str) -> dict[str, str]:
    """The family's named columns of how `layer` runs (empty when it has none)."""
    lc = c.cost.layers.get(layer)
    if lc is None or front.family not in FAMILIES:
        return {}
    return FAMILIES.get(front.family).details(lc)


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
    if c.hardware is not None:
        hw = ", ".join(f"{k} {v:g}" for k, v in c.hardware)
        lines.append(f"area {c.area_mm2:.3f} mm2: {html.escape(hw)}")
    shown = list(zip(front.layers, c.precisions))
    if len(shown) > HOVER_LAYERS:  # the drill-down (a click) has every layer
        lines.append(f"first {HOVER_LAYERS} of {len(shown)} layers; click for all:")
        shown = shown[:HOVER_LAYERS]
    for n, p in shown:
        lc = c.cost.layers.get(n)
        tag = _describe(front, c, n)
        where = f", {html.escape(tag)}" if tag else ""
        if lc is not None and lc.mapping is not None and lc.mapping.utilization is not None:
            where += f", util {lc.mapping.utilization:.0%}"
        cyc = lc.cycles if lc else 0.0
        nj = lc.energy_j * 1e9 if lc else 0.0
        wkb = lc.weight_bytes / 1e3 if lc else 0.0
        lines.append(
            f"{html.escape(n)}: {p.label}  {cyc / 1e3:.1f} kcyc, {nj:.0f} nJ, {wkb:.2f} kB{where}"
        )
    return "<br>".join(lines)


def _value(c: Candidate, key: str) -> float:
    return float(getattr(c, key))


FLAT = 0.01  # a colour scale over values within 1 % of each other shows noise, not a trade-off


def is_flat(values: list[float]) -> bool:
    """True when `values` (finite ones) span less than `FLAT` of their largest magnitude, so a
    colour scale over them would only show rounding (e.g. every point at 3869 kB)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if len(v) < 2:
        return True
    span, top = float(v.max() - v.min()), float(np.abs(v).max())
    return span <= FLAT * top or span == 0.0


def fmt_kb(kb: float) -> str:
    """A memory size given in kB (1,000 bytes) in the unit that reads best: '524 kB',
    '3.87 MB', '1.07 GB'."""
    if kb >= 1e6:
        return f"{kb / 1e6:.3g} GB"
    if kb >= 1e4:
        return f"{kb / 1e3:.3g} MB"
    return f"{kb:.3g} kB" if kb < 100 else f"{kb:.0f} kB"


def _peak_marker(cands: list[Candidate]) -> dict[str, Any]:
    """The front's markers: coloured by peak memory, unless every point has (about) the same
    peak, which a colour scale would stretch into noise; then one colour."""
    peaks = [c.peak_kb for c in cands]
    if is_flat(peaks):
        return {"size": 9, "color": OKABE_ITO[0]}
    return {
        "size": 9,
        "color": peaks,
        "colorscale": "Viridis",
        "colorbar": {"title": "peak kB"},
        "showscale": True,
    }


def _front_name(cands: list[Candidate]) -> str:
    name = "Pareto front (estimate; the front spans every objective, not just these axes)"
    peaks = [c.peak_kb for c in cands]
    if cands and is_flat(peaks):
        name += f"; peak memory {fmt_kb(max(peaks))} at every point"
    return name


def build_figure(front: Front, points: dict[str, Any]) -> go.Figure:
    """The Pareto figure: every feasible evaluated candidate (`points`, as
    `RunDir.evaluated_points` returns them), the front, and fine-tuned re-scores."""
    fp = front.fp_accuracy
    has_acc = fp is not None
    feas = points["feasible"] if len(points.get("id", [])) else np.zeros(0, dtype=bool)
    y_cloud = (
        (
            np.clip(fp - points["est_accuracy_loss_pp"][feas], 0.0, 100.0)
            if has_acc
            else points["peak_kb"][feas]
        )
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
            name=_front_name(cands),
            hovertext=[_hover(front, r) for r in range(len(cands))],
            hoverinfo="text",
            customdata=list(range(len(cands))),
            marker=_peak_marker(cands),
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
                customdata=ft,
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


OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_UNITS = {
    "accuracy_loss": ("est. accuracy (%)", None),
    "latency": ("latency (ms)", "latency_ms"),
    "energy": ("energy (uJ)", "energy_uj"),
    "memory": ("peak memory (kB)", "peak_kb"),
    "area": ("area (mm2)", "area_mm2"),
}


def _objective_columns(front: Front, measured: bool = False) -> list[tuple[str, list[float]]]:
    """(label, value per Pareto point) of each objective, in display units. `measured`: the
    accuracy of a fine-tuned point is its fine-tuned one (the others keep the estimate)."""
    cols = []
    for o in front.objectives:
        label, key = _UNITS[o.value]
        if key is None:
            vals = [front.est_accuracy(c) for c in front.candidates]
            if any(v is None for v in vals):
                continue
            if measured and any(c.finetuned_accuracy is not None for c in front.candidates):
                label = "accuracy (%): fine-tuned, else est."
                vals = [
                    c.finetuned_accuracy if c.finetuned_accuracy is not None else v
                    for c, v in zip(front.candidates, vals)
                ]
        else:
            vals = [_value(c, key) for c in front.candidates]
        cols.append((label, vals))
    return cols


def pairs_figure(front: Front) -> go.Figure | None:
    """Every pair of objectives at once: a scatter matrix of the front with three or more
    objectives, one scatter with two (plotly's matrix needs three). Fine-tuned points are
    vermilion diamonds at their fine-tuned accuracy. None with fewer than two plottable
    objectives."""
    cols = _objective_columns(front, measured=True)
    if len(cols) < 2:
        return None
    tuned = [c.finetuned_accuracy is not None for c in front.candidates]
    marker = {
        "color": [OKABE_ITO[3] if t else OKABE_ITO[0] for t in tuned],
        "size": 7,
        "symbol": ["diamond" if t else "circle" for t in tuned],
    }
    text = [f"Pareto #{r}" for r in range(len(front))]
    ranks = list(range(len(front)))
    if len(cols) == 2:
        (xl, xv), (yl, yv) = cols
        fig = go.Figure(
            go.Scatter(
                x=xv, y=yv, mode="markers", marker=marker, text=text, customdata=ranks,
                hovertemplate="%{text}: %{x:.4g}, %{y:.4g}<extra></extra>",
            )
        )  # fmt: skip
        fig.update_layout(xaxis_title=xl, yaxis_title=yl, height=440)
    else:
        fig = go.Figure(
            go.Splom(
                dimensions=[{"label": label, "values": v} for label, v in cols],
                customdata=ranks,
                marker=marker,
                text=text,
                diagonal_visible=False,
                showupperhalf=False,
            )
        )
        fig.update_layout(height=220 * len(cols) + 80)
    what = "blue: estimate"
    if any(tuned):
        what += "; vermilion diamonds: fine-tuned points, at their fine-tuned accuracy"
    fig.update_layout(
        title=f"Every pair of objectives ({what})",
        template="plotly_white",
    )
    return fig


def parallel_figure(front: Front) -> go.Figure | None:
    """The front in parallel coordinates: one line per point over the objectives (and the
    fine-tuned accuracy where any point has one)."""
    cols = _objective_columns(front)
    if any(c.finetuned_accuracy is not None for c in front.candidates):
        cols.append(
            (
                "fine-tuned acc. (%)",
                [
                    c.finetuned_accuracy if c.finetuned_accuracy is not None else float("nan")
                    for c in front.candidates
                ],
            )
        )
    if len(cols) < 2:
        return None
    shade = next((v for _, v in cols[1:] if not is_flat(v)), None)
    line = (
        {"color": OKABE_ITO[0]}
        if shade is None
        else {"color": shade, "colorscale": "Viridis", "showscale": True}
    )
    fig = go.Figure(
        go.Parcoords(
            line=line,
            dimensions=[{"label": label, "values": v} for label, v in cols],
        )
    )
    fig.update_layout(title="The front in parallel coordinates", height=420)
    return fig


def error_figure(front: Front) -> go.Figure | None:
    """The estimator against the fine-tunes: estimated and fine-tuned accuracy of each point
    that has both, with the diagonal."""
    pts = front.estimate_errors()
    if not pts:
        return None
    est = [p[1] for p in pts]
    ft = [p[2] for p in pts]
    lo, hi = min(est + ft) - 0.5, max(est + ft) + 0.5
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="estimate = fine-tuned",
                   line={"dash": "dot", "color": "gray"})
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=est,
            y=ft,
            mode="markers+text",
            text=[f"#{p[0]}" for p in pts],
            textposition="top center",
            customdata=[p[0] for p in pts],
            name="Pareto point",
            marker={"size": 10, "color": OKABE_ITO[3]},
        )
    )
    err = np.array(ft) - np.array(est)
    fig.update_layout(
        title=f"Estimator error: fine-tuned minus estimated accuracy, mean {err.mean():+.2f} pp, "
        f"largest {err[np.abs(err).argmax()]:+.2f} pp",
        xaxis_title="estimated accuracy (%)",
        yaxis_title="fine-tuned accuracy (%)",
        height=420,
        template="plotly_white",
    )
    return fig


def _timeline(graph: Any, c: Candidate, layers: list[str], input_bits: int) -> list[float]:
    """Bytes of activations resident while each layer of `graph` runs, for candidate `c`."""
    from codesign.cost.channels import live_sets, plan_of
    from codesign.cost.tables import activation_timeline

    act = {n: p.act_bits for n, p in zip(layers, c.precisions)}
    alive = None
    if any(0 in p.weight_bits for p in c.precisions):  # pruned channels shrink tensors
        kept = {
            n: {k for k, b in enumerate(p.weight_bits) if b > 0}
            for n, p in zip(layers, c.precisions)
        }
        channels = {s.name: s.K for s in graph.quantizable}
        alive = live_sets(plan_of(graph), kept, channels)[2]
    return activation_timeline(graph, act, input_bits, alive).tolist()


def layer_labels(front: Front, graph: Any = None) -> list[str]:
    """Each quantizable layer's axis label: its module name and, with the run's layer graph,
    its kind ('0 conv', 'blocks.0.attn.q linear'), so that a Sequential's '0', '3', ... read
    as names, not as positions."""
    out = []
    for n in front.layers:
        kind = None
        if graph is not None:
            try:
                kind = graph[n].kind.value
            except KeyError:
                kind = None
        out.append(f"{n} {kind}" if kind else n)
    return out


def drilldown_data(
    front: Front, graph: Any = None, input_bits: int | None = None
) -> list[dict[str, Any]]:
    """What the drill-down of each Pareto point shows, as plain data for the page's script.
    With the run's layer `graph` it includes the memory timeline: activation bytes resident
    at each execution step (every layer, in order), by the cost model's storage rules."""
    out = []
    labels = layer_labels(front, graph)
    wbits = sorted({b for c in front.candidates for p in c.precisions for b in p.weight_bits})
    abits = sorted({p.act_bits for c in front.candidates for p in c.precisions})
    for r, c in enumerate(front.candidates):
        share = []
        for b in wbits:
            share.append([p.weight_bits.count(b) / len(p.weight_bits) for p in c.precisions])
        act = [[1.0 if p.act_bits == a else 0.0 for p in c.precisions] for a in abits]
        layers = list(front.layers)
        costs = [c.cost.layers.get(n) for n in layers]
        out.append(
            {
                "rank": r,
                "title": f"Pareto #{r} (candidate {c.id}, {c.strategy})",
                "layers": layers,
                "labels": labels,
                "rows": [f"w{b}" + (" (pruned)" if b == 0 else "") for b in wbits]
                + [f"a{a}" for a in abits],
                "bits": share + act,
                "latency_ms": [lc.latency_s * 1e3 if lc else 0.0 for lc in costs],
                "energy_uj": [lc.energy_j * 1e6 if lc else 0.0 for lc in costs],
                "steps": [] if graph is None else list(graph.order),
                "live_kb": []
                if graph is None
                else [b / 1e3 for b in _timeline(graph, c, layers, input_bits or 8)],
                "weight_kb": c.weight_kb,
                "peak_kb": c.peak_kb,
                "peak_label": fmt_kb(c.peak_kb),
                "limit_kb": front.memory_limit_bytes / 1e3
                if np.isfinite(front.memory_limit_bytes)
                else None,
                "limit_label": fmt_kb(front.memory_limit_bytes / 1e3)
                if np.isfinite(front.memory_limit_bytes)
                else None,
                "mapping": _hardware_table(c) + _mapping_table(front, r),
            }
        )
    return out


_DRILL_JS = """
<script>
const CANDS = %s;
const COLOURS = %s;
function showPoint(r) {
  const d = CANDS[r];
  if (!d) return;
  document.getElementById('drill-title').textContent = d.title;
  const cat = {type: 'category', title: {text: 'layer'}, automargin: true};
  Plotly.newPlot('drill-bits', [{z: d.bits, x: d.labels, y: d.rows, type: 'heatmap',
    colorscale: 'Viridis', zmin: 0, zmax: 1, colorbar: {title: {text: 'share'}},
    hovertemplate: '%%{x}, %%{y}: %%{z:.2f}<extra></extra>'}],
    {title: {text: 'Bits per layer: share of its channels at each weight bit-width, and its ' +
      'activation bits'}, height: 170 + 26 * d.rows.length, margin: {l: 90}, xaxis: cat});
  const stack = d.labels.map((n, i) => ({type: 'bar', orientation: 'h', name: n,
    y: ['latency', 'energy'],
    x: [d.latency_ms[i], d.energy_uj[i]].map((v, k) => 100 * v /
       (k == 0 ? d.latency_ms : d.energy_uj).reduce((a, b) => a + b, 0)),
    text: [d.latency_ms[i].toFixed(4) + ' ms', d.energy_uj[i].toFixed(3) + ' uJ'],
    hovertemplate: 'layer ' + n + ': %%{text} (%%{x:.1f} %%%%)<extra></extra>',
    marker: {color: COLOURS[i %% COLOURS.length]}}));
  Plotly.newPlot('drill-cost', stack, {barmode: 'stack', height: 280,
    title: {text: 'Where latency and energy go: share of each layer'},
    xaxis: {title: {text: '%% of the total'}}, legend: {title: {text: 'layer'}}});
  const mem = [{type: 'bar', x: d.steps, y: d.steps.map(() => d.weight_kb), name: 'weights',
      marker: {color: COLOURS[5]}, hovertemplate: 'weights: %%{y:.1f} kB<extra></extra>'},
    {type: 'bar', x: d.steps, y: d.live_kb, name: 'activations resident',
      marker: {color: COLOURS[0]},
      hovertemplate: 'while %%{x} runs: %%{y:.2f} kB of activations<extra></extra>'}];
  const top = Math.max(...d.live_kb) + d.weight_kb;
  const shapes = [];
  if (d.limit_kb !== null && d.limit_kb <= 3 * top) shapes.push({type: 'line', xref: 'paper',
    x0: 0, x1: 1, y0: d.limit_kb, y1: d.limit_kb, line: {color: COLOURS[3], dash: 'dash'}});
  Plotly.newPlot('drill-mem', mem, {height: 340, shapes: shapes, barmode: 'stack',
    yaxis: {title: {text: 'kB'}}, xaxis: {type: 'category', title: {text: 'execution step'}},
    title: {text: 'Memory timeline: weights + activation tensors resident at each step (peak ' +
      d.peak_label + (d.limit_kb !== null ? ' of the chip\u2019s ' + d.limit_label +
      (shapes.length ? ', dashed' : '') : '') + ')'}});
  document.getElementById('drill-map').innerHTML = d.mapping;
  document.getElementById('drill').scrollIntoView({behavior: 'smooth'});
}
document.querySelectorAll('.plotly-graph-div').forEach(function (g) {
  g.on('plotly_click', function (ev) {
    const p = ev.points[0];
    if (p && p.customdata !== undefined && !Array.isArray(p.customdata)) showPoint(p.customdata);
  });
});
document.querySelectorAll('tr[data-rank]').forEach(function (tr) {
  tr.addEventListener('click', function () { showPoint(Number(tr.dataset.rank)); });
});
</script>
"""


def _f(v: float | None, d: int = 2) -> str:
    return "-" if v is None else f"{v:.{d}f}"


def _table(front: Front) -> str:
    """The front as an HTML table, one row per point; no accuracy columns in a cost-only run."""
    has_acc = front.fp_accuracy is not None
    acc_head = ["est. acc %", "fine-tuned %", "error pp"] if has_acc else []
    sized = [c.hardware for c in front.candidates if c.hardware is not None]
    params = [k for k, _ in sized[0]] if sized else []
    hw_head = (["area mm2"] + [html.escape(k) for k in params]) if sized else []
    head = ["#", *acc_head, "latency ms", "energy uJ", "peak kB", *hw_head] + [
        html.escape(n) for n in front.layers
    ]
    rows = []
    for r, c in enumerate(front.candidates):
        est, ft = front.est_accuracy(c), c.finetuned_accuracy
        acc = [_f(est), _f(ft), "-" if est is None or ft is None else f"{ft - est:+.2f}"]
        cells = [
            str(r),
            *(acc if has_acc else []),
            _f(c.latency_ms, 3),
            _f(c.energy_uj),
            _f(c.peak_kb, 1),
        ]
        if sized:
            hp = dict(c.hardware or ())
            cells += [_f(c.area_mm2, 4)] + [f"{hp[k]:g}" if k in hp else "-" for k in params]
        for n, p in zip(front.layers, c.precisions):
            tag = _describe(front, c, n) if c.mapping is not None else ""
            cells.append(p.label + (f" {tag}" if tag else ""))
        rows.append(f'<tr data-rank="{r}">' + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _hardware_table(c: Candidate) -> str:
    """A sizing run's point: its hardware parameters and area as an HTML table ('' on one
    fixed hardware)."""
    if c.hardware is None:
        return ""
    cells = [("area mm2", _f(c.area_mm2, 4))] + [(k, f"{v:g}") for k, v in c.hardware]
    head = "".join(f"<th>{html.escape(k)}</th>" for k, _ in cells)
    row = "".join(f"<td>{html.escape(v)}</td>" for _, v in cells)
    return (
        "<h4>Hardware of this point (export it: --format hw)</h4>"
        f"<table><thead><tr>{head}</tr></thead><tbody><tr>{row}</tr></tbody></table>"
    )


def _mapping_table(front: Front, r: int) -> str:
    """Point `r`'s mapping per layer as an HTML table, in the columns its family names
    (spatial accelerators: dataflow, unrolling, tiling and loop order per level, operands
    that skip a level); '' when the family describes none (MCUs)."""
    c = front.candidates[r]
    rows, head = [], None
    for n, p in zip(front.layers, c.precisions):
        cols = _details(front, c, n)
        if not cols:
            continue
        head = head or ["layer", "bits", *cols]
        cells = [n, p.label, *cols.values()]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in cells) + "</tr>")
    if not rows:
        return ""
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _graph_of(rd: Any, front: Front) -> tuple[Any, int | None]:
    """The run's layer graph (layers.json) and its input's storage bits (the hardware's widest
    activation bits), or (None, None) when the run has no layers.json."""
    from codesign.workload.graph import LayerGraph

    try:
        graph = LayerGraph.from_records(rd.read_json("layers.json"), front.workload)
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return None, None
    bits = None
    hw_file = rd.path / "hw.yaml"
    if hw_file.exists():
        from codesign.hw.load import load_hardware

        try:
            bits = max(load_hardware(hw_file).act_bits)
        except Exception:  # noqa: BLE001 - a report still renders without it
            bits = None
    if bits is None:
        bits = max(p.act_bits for c in front.candidates for p in c.precisions)
    return graph, bits


def write_report(run_dir: str | Path) -> Path:
    """Write ``pareto.html`` in `run_dir` from its front and evaluated points; returns it."""
    run_dir = Path(run_dir)
    rd = open_run(run_dir)
    front = rd.load_front()
    figures = [build_figure(front, rd.evaluated_points())]
    figures += [f for f in (pairs_figure(front), parallel_figure(front), error_figure(front)) if f]
    body = "\n".join(
        f.to_html(full_html=False, include_plotlyjs=(k == 0)) for k, f in enumerate(figures)
    )
    title = f"{html.escape(front.workload)} on {html.escape(front.hardware)}"
    strategy = html.escape(front.strategy)
    if front.fp_accuracy is None:
        title += " (cost only)"
        units = (
            "<b>Cost only:</b> this run had no data for its workload, so there is no accuracy "
            "axis: the front trades the costs alone (give <code>--data</code> for one). "
            "Latency in ms, energy in uJ, memory in kB"
        )
    else:
        units = (
            f"Accuracies in percent on held-out data (full precision "
            f"{front.fp_accuracy:.2f} %); latency in ms, energy in uJ, memory in kB"
        )
    graph, input_bits = _graph_of(rd, front)
    drill = _DRILL_JS % (
        script_json(drilldown_data(front, graph, input_bits)),
        script_json(list(OKABE_ITO)),
    )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>codesign: {title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:100%}}
table{{border-collapse:collapse;font-size:13px}} .scroll{{overflow-x:auto;max-width:100%}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} tr[data-rank]{{cursor:pointer}}
tr[data-rank]:hover{{background:#eef}}</style></head>
<body><h2>{title}</h2>
<p>Objectives: {", ".join(o.value for o in front.objectives)}. Strategy: {strategy}.
{units}; per-layer bits as w(weight)a(activation).
<b>Click a point or a table row</b> for its drill-down: bits per layer, where latency and
energy go, memory per layer against the chip's limit and, on
accelerators, each layer's mapping. Export a point with
<code>codesign export {html.escape(str(run_dir))} --pick N</code>.</p>
{body}
<h3>Pareto front</h3>
<div class="scroll">{_table(front)}</div>
<div id="drill"><h3 id="drill-title">Drill-down: click a point or a row</h3>
<div id="drill-bits"></div><div id="drill-cost"></div><div id="drill-mem"></div>
<div id="drill-map" class="scroll"></div></div>
{drill}
</body></html>
"""
    out = run_dir / "pareto.html"
    write_text_atomic(out, page)
    return out


def script_json(data: Any) -> str:
    """`data` as JSON safe to embed in a ``<script>`` element: no ``</script>``, comment or
    entity in a value (a layer or strategy name read from a file) can end the script early."""
    text = json.dumps(data)
    for ch in ("<", ">", "&", "\u2028", "\u2029"):
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text
