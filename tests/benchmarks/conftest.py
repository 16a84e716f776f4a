"""The benchmarks write their docs pages into a temporary folder here, never into docs/."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def doc_pages(tmp_path, monkeypatch):
    """Where `write_doc_page` writes during a test (``$CODESIGN_DOC_PAGES``)."""
    folder = tmp_path / "doc-pages"
    monkeypatch.setenv("CODESIGN_DOC_PAGES", str(folder))
    return folder
