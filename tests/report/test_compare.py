"""`codesign compare`: several runs on one self-contained page."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from codesign.core.errors import RunError
from codesign.report.compare import write_compare

RUN = dict(estimator="proxy", workload="digits_cnn", pop_size=8, generations=2, finetune_top=1,
           finetune_steps=20)  # fmt: skip


@pytest.fixture(scope="module")
def two_runs(run_explore, results_dir):
    a = run_explore(**RUN, strategy="nsga2", out=results_dir / "cmp-nsga2")
    b = run_explore(**RUN, strategy="random", out=results_dir / "cmp-random")
    return a, b


def test_compare_writes_one_page_with_every_run(two_runs, tmp_path):
    a, b = two_runs
    out = tmp_path / "cmp.html"
    res = subprocess.run(
        [sys.executable, "-m", "codesign.cli", "compare", str(a.run_dir), str(b.run_dir), "-o",
         str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    page = out.read_text()
    assert page.count("plotly.js v") == 1  # embedded once, however many figures
    n_obj = len(a.front.objectives)
    assert page.count("Plotly.newPlot") == n_obj * (n_obj - 1) // 2  # one per objective pair
    for r in (a, b):
        assert f"{r.run_dir.name} (" in page
    cells = re.findall(r"<td>([0-9.]+)</td></tr>", page)  # last column: HV of fine-tuned points
    assert len(cells) == 2 and all(0 < float(c) <= 1.1**n_obj for c in cells)
    walls = re.findall(r"<td>(\d+)</td><td>[0-9.]+</td><td>[0-9.]+</td></tr>", page)
    assert len(walls) == 2  # run.json now records when a run finished


def test_compare_refuses_one_run_and_unshared_objectives(two_runs, run_explore, results_dir):
    a, _ = two_runs
    with pytest.raises(RunError, match="at least two"):
        write_compare([a.run_dir], "x.html")
    c = run_explore(**{**RUN, "objectives": "latency,memory"}, out=results_dir / "cmp-cost")
    d = run_explore(**{**RUN, "objectives": "energy,accuracy_loss"}, out=results_dir / "cmp-e")
    with pytest.raises(RunError, match="share fewer than two objectives"):
        write_compare([c.run_dir, d.run_dir], "x.html")


def test_the_report_has_every_pair_a_parallel_view_and_a_drilldown_per_point(two_runs):
    import json

    from codesign.report.html import write_report

    a, _ = two_runs
    page = write_report(a.run_dir).read_text()
    assert page.count("plotly.js v") == 1
    assert '"type":"splom"' in page and '"type":"parcoords"' in page
    m = re.search(r"const CANDS = (\[.*?\]);\n", page, re.S)
    cands = json.loads(m.group(1))
    assert len(cands) == len(a.front)
    first = cands[0]
    assert first["layers"] == list(a.front.layers)
    assert len(first["bits"]) == len(first["rows"])
    n_w = sum(r.startswith("w") for r in first["rows"])
    for col in zip(*first["bits"][:n_w]):  # each layer's weight-bit shares sum to 1
        assert sum(col) == pytest.approx(1.0)
    for col in zip(*first["bits"][n_w:]):  # one activation width per layer
        assert sum(col) == 1.0
    c = a.front.candidates[0]
    assert sum(first["latency_ms"]) == pytest.approx(c.latency_ms, rel=0.2)
    assert page.count('<tr data-rank="') == len(a.front)
    # the size budget README states: plotly.js plus at most 40 kB per Pareto point
    js = len(page.split("plotly.js v", 1)[1].split("</script>", 1)[0])
    assert len(page.encode()) - js <= 200_000 + 40_000 * len(a.front)
    # the memory timeline peaks exactly at the point's priced peak memory
    for d, cand in zip(cands, a.front.candidates):
        assert len(d["steps"]) == len(d["live_kb"]) > len(d["layers"])
        assert max(d["live_kb"]) + d["weight_kb"] == pytest.approx(cand.peak_kb, rel=1e-9)
