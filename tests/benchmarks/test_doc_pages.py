"""`write_doc_page`: a benchmark writes its tables, dated, with commit and machine, into its
page's measured block and leaves the prose around it."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest
from rich.table import Table

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))
_common = importlib.import_module("_common")

# the benchmarks that write no page (none now)
NOT_WIRED: set[str] = set()


def _table(value: str) -> Table:
    t = Table(title="rates")
    t.add_column("workload")
    t.add_column("cand/s", justify="right")
    t.add_row("digits_cnn", value)
    return t


def test_the_block_is_replaced_and_the_prose_kept(doc_pages):
    page = doc_pages / "demo.md"
    doc_pages.mkdir()
    page.write_text("# Demo\n\nProse before.\n\n" + _common.MEASURED_BEGIN + "\nold\n"
                    + _common.MEASURED_END + "\n\nProse after.\n")  # fmt: skip
    _common.write_doc_page("demo", _table("1,000"), reproduce="python benchmarks/demo.py")
    _common.write_doc_page("demo", _table("2,000"), reproduce="python benchmarks/demo.py")
    text = page.read_text()
    assert "Prose before." in text and "Prose after." in text and "old" not in text
    assert text.count(_common.MEASURED_BEGIN) == 1 and "| digits_cnn | 2,000 |" in text
    assert "1,000" not in text and "| --- | ---: |" in text
    assert re.search(r"Measured on \d{4}-\d\d-\d\d at commit `[0-9a-f]+(-dirty)?` on .+cores", text)
    assert "python benchmarks/demo.py" in text


def test_tables_of_several_calls_share_one_block(doc_pages):
    assert _common.write_doc_page("multi", _table("1")) is None  # waits for its reproduce line
    page = _common.write_doc_page("multi", _table("2"), reproduce="python benchmarks/multi.py")
    text = page.read_text()
    assert "| digits_cnn | 1 |" in text and "| digits_cnn | 2 |" in text


def test_named_blocks_are_replaced_one_at_a_time(doc_pages):
    for block, value in (("layer", "1"), ("channel", "2"), ("layer", "3")):
        page = _common.write_doc_page("fid", _table(value), reproduce=f"r {block}", block=block)
    text = page.read_text()
    # each run replaces its own block and leaves the other one
    assert "| digits_cnn | 3 |" in text and "| digits_cnn | 2 |" in text
    assert "| digits_cnn | 1 |" not in text
    assert text.count("measured:begin layer:") == 1 and text.count("measured:end channel") == 1


def test_off_writes_nothing(doc_pages, monkeypatch):
    monkeypatch.setenv("CODESIGN_DOC_PAGES", "off")
    assert _common.write_doc_page("x", _table("1"), reproduce="r") is None
    assert not doc_pages.exists()


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("bench_*.py")))
def test_every_benchmark_but_the_estimators_writes_its_page(script):
    text = (BENCH / f"{script}.py").read_text()
    writes = 'page="' in text or "write_doc_page(" in text
    assert writes == (script not in NOT_WIRED), script
    if writes:
        name = re.search(r'(?:page=|write_doc_page\()"(\w+)"', text).group(1)
        assert (BENCH.parent / "docs" / "benchmarks" / f"{name}.md").exists(), name


def test_a_wired_benchmark_writes_its_page(doc_pages, capsys):
    mod = importlib.import_module("bench_mpic_scoring")
    mod.main(["--population", "200", "--repeats", "1", "--workloads", "digits_cnn"])
    text = (doc_pages / "mpic_scoring.md").read_text()
    assert "**MPIC cost-table scoring" in text and "| digits_cnn |" in text
    assert "python benchmarks/bench_mpic_scoring.py --population 200" in text
