"""A screenshot of a run's report with one point's drill-down open (for README).

Needs Debian's chromium and Playwright (`pip install playwright`; no browser download: it
drives the system Chromium).

Reproduce:  python benchmarks/shot_report.py results/demo docs/figures/report.png [--pick 3]
"""

from __future__ import annotations

import argparse

from _common import command, parse, print_reproduce


def main(argv: list[str] | None = None) -> None:
    """Write the run's report, open it in headless Chromium, screenshot the drill-down."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("out")
    ap.add_argument("--pick", type=int, default=3)
    args, argv = parse(ap, argv)
    from playwright.sync_api import sync_playwright

    from codesign.report.browser import launch
    from codesign.report.html import write_report

    page_path = write_report(args.run_dir).resolve()
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg")
        page.click(f'tr[data-rank="{args.pick}"]')
        page.wait_for_selector("#drill-cost .main-svg")
        page.wait_for_timeout(800)
        drill = page.locator("#drill")
        drill.screenshot(path=args.out)
        browser.close()
    print(f"wrote {args.out}")
    print_reproduce(command("shot_report.py", argv))


if __name__ == "__main__":
    main()
