"""Headless Chromium for the report's browser test and screenshots (Debian's `chromium`
driven by Playwright; no browser download). Playwright is imported by the caller."""

from __future__ import annotations

import shutil
from typing import Any

# software WebGL, so plotly's parallel coordinates render without a GPU
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)


def find_chromium() -> str | None:
    """Path of a Chromium on this machine, or None."""
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a running `sync_playwright()` context."""
    return playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
