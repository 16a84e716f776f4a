"""The report's figures for any number of objectives, its colour scales, sizes and labels."""

from __future__ import annotations

import plotly.graph_objects as go
import pytest

from codesign.report.html import (
    fmt_kb,
    is_flat,
    layer_labels,
    pairs_figure,
    parallel_figure,
    write_report,
)
from codesign.run import open_run


def test_flat_values_get_no_colour_scale():
    assert is_flat([3868.8, 3869.6, 3869.0])  # 0.02 % apart: rounding, not a trade-off
    assert not is_flat([4.2, 6.4, 9.0])
    assert is_flat([5.0]) and is_flat([])


@pytest.mark.parametrize(
    ("kb", "text"),
    [(1073741.824, "1.07 GB"), (524.288, "524 kB"), (3869.2, "3869 kB"), (38692, "38.7 MB"),
     (4.26, "4.26 kB")],
)  # fmt: skip
def test_sizes_read_in_their_unit(kb, text):
    assert fmt_kb(kb) == text


@pytest.mark.parametrize("n", [2, 3, 4])
def test_pairs_figure_for_any_number_of_objectives(objective_runs, n):
    run = objective_runs(n)
    front = open_run(run.run_dir).load_front()
    fig = pairs_figure(front)
    trace = fig.data[0]
    # plotly's scatter matrix throws in the browser with two dimensions: one plain scatter
    assert isinstance(trace, go.Scatter if n == 2 else go.Splom)
    acc = list(trace.x) if n == 2 else list(trace.dimensions[0]["values"])
    tuned = [r for r, c in enumerate(front.candidates) if c.finetuned_accuracy is not None]
    assert tuned, "the run fine-tunes one point"
    for r, c in enumerate(front.candidates):
        want = c.finetuned_accuracy if r in tuned else front.est_accuracy(c)
        assert acc[r] == pytest.approx(want)
    assert parallel_figure(front) is not None


def test_cost_only_report_says_so(cost_only_run):
    front = open_run(cost_only_run.run_dir).load_front()
    assert front.fp_accuracy is None and len(front.objectives) == 2
    assert isinstance(pairs_figure(front).data[0], go.Scatter)
    page = write_report(cost_only_run.run_dir).read_text()
    assert "(cost only)" in page and "Cost only:" in page
    assert "Accuracies in percent" not in page and "est. acc %" not in page
    assert "1073742" not in page  # sizes are formatted, never a raw kB count of DRAM


def test_layers_are_labelled_by_name_and_kind(objective_runs):
    from codesign.report.html import _graph_of

    rd = open_run(objective_runs(2).run_dir)
    front = rd.load_front()
    graph, _ = _graph_of(rd, front)
    labels = layer_labels(front, graph)
    assert labels[0] == f"{front.layers[0]} conv" and labels[-1].endswith(" linear")
