"""The report in a real browser: headless Chromium (Debian's `chromium`) through Playwright.

It fails on any console error, checks that every figure rendered (plot elements present),
that the page fits a 1,280 px screen, clicks a point of the front and checks that its
drill-down appears with layers named on its heatmap, and saves a screenshot; for runs with 2,
3 and 4 objectives and a cost-only run. Without a Chromium on the machine it is skipped with
how to install one.
"""

from __future__ import annotations

import pytest

from codesign.report.browser import find_chromium, launch

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium here: install Debian's chromium (apt-get install chromium) to run the "
    "report's browser test",
)


WIDTH = 1280  # the screen the report must fit


def _open(page_url: str, shot):  # noqa: ANN001, ANN202
    sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    errors: list[str] = []
    with sync.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_url)
        page.wait_for_function(
            "document.querySelectorAll('.js-plotly-plot').length > 0 && [...document"
            ".querySelectorAll('.js-plotly-plot')].every(g => g.querySelector('.main-svg'))",
            timeout=60_000,
        )
        rendered = page.evaluate(
            """() => [...document.querySelectorAll('.js-plotly-plot')].map(g =>
                g.querySelectorAll('path.point, .parcoords-line, .parcoords .axis, canvas, '
                                   + '.trace path').length)"""
        )
        # a point of the front: the second trace of the first figure (the first is the cloud)
        box = page.evaluate(
            """() => { const g = document.querySelectorAll('.js-plotly-plot')[0];
                const traces = g.querySelectorAll('.scatterlayer .trace');
                const pts = traces[traces.length > 1 ? 1 : 0].querySelectorAll('path.point');
                const r = pts[0].getBoundingClientRect();
                return {x: r.x + r.width / 2, y: r.y + r.height / 2}; }"""
        )
        page.mouse.click(box["x"], box["y"])
        page.wait_for_function(
            "document.getElementById('drill-title').textContent.startsWith('Pareto #') && "
            "document.querySelector('#drill-bits .main-svg') !== null && "
            "document.querySelector('#drill-cost .main-svg') !== null",
            timeout=30_000,
        )
        title = page.evaluate("document.getElementById('drill-title').textContent")
        ticks = page.evaluate(
            "[...document.querySelectorAll('#drill-bits .xtick text')].map(t => t.textContent)"
        )
        width = page.evaluate("document.documentElement.scrollWidth")
        # the drill-down itself: Playwright waits until the smooth scroll to it has settled
        # (a viewport shot taken mid-scroll under load caught a blank page)
        page.locator("#drill").screenshot(path=str(shot))
        browser.close()
    return errors, rendered, title, ticks, width


def _check(run_dir, tmp_path, figures: int) -> list[str]:  # noqa: ANN001
    from codesign.report.html import write_report

    page = write_report(run_dir)
    shot = tmp_path / "report.png"
    errors, rendered, title, ticks, width = _open(page.resolve().as_uri(), shot)
    assert not errors, f"console errors: {errors}"
    assert len(rendered) == figures and all(n > 0 for n in rendered), f"figures: {rendered}"
    assert title.startswith("Pareto #")
    assert width <= WIDTH, f"the page is {width} px wide"
    assert shot.exists() and shot.stat().st_size > 10_000
    return ticks


def test_report_renders_and_drills_down_in_chromium(small_run, tmp_path):
    # front, pairs, parallel coordinates, estimator error (two points are fine-tuned)
    ticks = _check(small_run.run_dir, tmp_path, figures=4)
    assert any(t.endswith(" conv") for t in ticks), f"heatmap layers: {ticks}"


@pytest.mark.parametrize("n", [2, 3, 4])
def test_report_for_n_objectives_in_chromium(objective_runs, tmp_path, n):
    _check(objective_runs(n).run_dir, tmp_path, figures=4)


def test_cost_only_report_in_chromium(cost_only_run, tmp_path):
    # two cost objectives: the front, their one scatter, parallel coordinates; no error figure
    ticks = _check(cost_only_run.run_dir, tmp_path, figures=3)
    assert any(t.endswith(" conv") for t in ticks), f"heatmap layers: {ticks}"
