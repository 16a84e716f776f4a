"""The report in a real browser: headless Chromium (Debian's `chromium`) through Playwright.

It fails on any console error, checks that every figure rendered (plot elements present),
clicks a point of the front and checks that its drill-down appears, and saves a screenshot.
Without a Chromium on the machine it is skipped with how to install one.
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


def _open(page_url: str, shot):  # noqa: ANN001, ANN202
    sync = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    errors: list[str] = []
    with sync.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
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
        # the drill-down itself: Playwright waits until the smooth scroll to it has settled
        # (a viewport shot taken mid-scroll under load caught a blank page)
        page.locator("#drill").screenshot(path=str(shot))
        browser.close()
    return errors, rendered, title


def test_report_renders_and_drills_down_in_chromium(small_run, tmp_path):
    from codesign.report.html import write_report

    page = write_report(small_run.run_dir)
    shot = tmp_path / "report.png"
    errors, rendered, title = _open(page.resolve().as_uri(), shot)
    assert not errors, f"console errors: {errors}"
    assert rendered and all(n > 0 for n in rendered), f"empty figures: {rendered}"
    assert title.startswith("Pareto #")
    assert shot.exists() and shot.stat().st_size > 10_000
