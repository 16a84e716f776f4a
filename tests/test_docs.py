"""The docs stay true: README's and the guide's runnable commands run, README's figures about
the main job are `benchmarks/quickstart.py`'s, the generated reference pages name everything
the code defines, and the site builds with ``mkdocs build --strict``.

A command block is runnable when the line before its fence is ``<!-- runnable -->``; a
``<!-- file: NAME -->`` before a fenced block writes that block to NAME first. Each document's
blocks run in order, in one temporary folder (so they share its ``results/``), with the
bundled hardware names (``--hw mpic``) and small workloads.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

RUNNABLE = "<!-- runnable -->"
FILE = re.compile(r"<!-- file: (\S+) -->")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs" / "guide").glob("*.md"))]


def blocks(text: str) -> list[tuple[str, str | None, str]]:
    """(kind, file name or None, body) of each marked block: kind 'run' or 'file'."""
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        if before == RUNNABLE:
            out.append(("run", None, m.group(1)))
        elif f := FILE.fullmatch(before):
            out.append(("file", f.group(1), m.group(1)))
    return out


def commands(body: str) -> list[str]:
    """The shell commands of a block: one per line, comments and blank lines dropped."""
    lines = [ln.split(" #")[0].strip() for ln in body.replace("\\\n", " ").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def test_every_marked_document_has_runnable_commands():
    marked = {p.name: blocks(p.read_text()) for p in DOCS}
    assert any(k == "run" for k, _, _ in marked["README.md"])
    for doc, bs in marked.items():
        for kind, _, body in bs:
            if kind == "run":
                for cmd in commands(body):
                    assert not cmd.startswith("pip "), f"{doc}: installs do not run here: {cmd}"


@pytest.mark.parametrize("doc", [p for p in DOCS if blocks(p.read_text())], ids=lambda p: p.name)
def test_runnable_commands_run(doc, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tmp_path)}
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    ran = 0
    for kind, name, body in blocks(doc.read_text()):
        if kind == "file":
            (tmp_path / name).write_text(body)
            continue
        for cmd in commands(body):
            argv = shlex.split(cmd)
            assert shutil.which(argv[0], path=env["PATH"]), f"{doc.name}: no {argv[0]}"
            proc = subprocess.run(
                cmd, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True,
                timeout=600,
            )  # fmt: skip
            assert proc.returncode == 0, (
                f"{doc.name}: `{cmd}` exited {proc.returncode}:\n{proc.stderr[-3000:]}"
            )
            ran += 1
    assert ran


# ---- README's figures about the main job ----------------------------------------------------


def _quickstart():
    spec = importlib.util.spec_from_file_location(
        "quickstart", ROOT / "benchmarks" / "quickstart.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules["quickstart"] = mod  # dataclasses look their module up
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return mod


def _quick_start_section(text: str) -> str:
    return text.split("## Quick start", 1)[1].split("\n## ", 1)[0]


def test_quick_start_figures_are_the_scripts():
    """Every figure the quick start states sits in quickstart.py's paragraph, in its exact
    wording (a hand edit breaks the match); outside it only the commands have digits."""
    qs = _quickstart()
    readme = (ROOT / "README.md").read_text()
    section = _quick_start_section(readme)
    figures = qs.read(section)
    assert figures is not None, "README's quick start has no paragraph from quickstart.py"
    assert qs.render(figures) in section
    rest = section.split(qs.BEGIN)[0] + section.split(qs.END)[1]
    rest = FENCE.sub("", rest).replace("torch==2.13.0", "").replace("3.10+", "")
    rest = re.sub(r"MNIST-1D|mnist1d_cnn|1-D|Kobak 2024|`[^`]*`", "", rest)
    assert not re.search(r"\d", rest), f"a typed figure in the quick start: {rest!r}"


def test_quickstart_script_writes_its_paragraph(tmp_path, monkeypatch):
    """quickstart.py at a tiny size: it runs the command, and what it writes reads back."""
    qs = _quickstart()
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n## Quick start\n\n{qs.BEGIN}\nold\n{qs.END}\n")
    monkeypatch.setenv("CODESIGN_DOC_PAGES", str(tmp_path / "pages"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    tiny = ["--workload", "digits_cnn", "--estimator", "proxy", "--generations", "2"]
    tiny += ["--pop-size", "16", "--finetune-top", "1", "--finetune-steps", "20"]
    tiny += ["--baselines", "false"]
    qs.main(["--readme", str(readme), "--", *tiny])
    f = qs.read(readme.read_text())
    assert f is not None and f.evaluated > 0 and f.finetuned == 1 and f.estimator == "proxy"
    assert 0 < f.low_acc <= f.high_acc <= 100 and f.wall_s > 0
    page = (tmp_path / "pages" / "quickstart.md").read_text()
    assert f"{f.evaluated:,} candidates" in page and "commit `" in page


# ---- the generated reference pages ----------------------------------------------------------


def _gen_ref():
    spec = importlib.util.spec_from_file_location("gen_ref", ROOT / "docs" / "gen_ref.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_reference_names_every_command_and_option():
    import argparse

    from codesign.cli import _parser

    page = _gen_ref().cli_page()
    seen = 0
    todo = [("codesign", _parser())]
    while todo:
        name, p = todo.pop()
        assert f"## `{name}`" in page, name
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                todo += [(f"{name} {n}", sub) for n, sub in a.choices.items()]
            elif not isinstance(a, argparse._HelpAction):
                for s in a.option_strings:
                    assert f"`{s}`" in page, f"{name}: {s}"
                    seen += 1
    assert seen > 40


def test_config_reference_names_every_field():
    from codesign.config import ExploreConfig

    page = _gen_ref().config_page()
    for name, f in ExploreConfig.model_fields.items():
        row = next((ln for ln in page.splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert row is not None, name
        assert (f.description or "").split()[0] in row


def test_hardware_reference_names_every_schema_field():
    from codesign.hw.family import FAMILIES

    ref = _gen_ref()
    page = ref.hardware_page()
    for fam in FAMILIES.names():
        assert f"## Family `{fam}`" in page
        schema = FAMILIES.get(fam).schema
        paths = [p for p, _, _ in ref.schema_fields(schema)]
        assert len(paths) > len(schema.model_fields)  # nested models are expanded
        for p in paths:
            assert f"| `{p}` |" in page, f"{fam}: {p}"


def test_run_folder_reference_names_every_file():
    import codesign.run as run

    page = _gen_ref().run_folder_page()
    files = re.findall(r"^\s{4}(\S+\.\w+)\s", run.__doc__, re.M)
    assert "pareto.json" in files and "run.json" in files
    for f in files:
        assert f in page, f


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason='pip install -e ".[docs]"')
    mkdocs = Path(sys.executable).parent / "mkdocs"
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").exists()
