"""Conventions every module keeps, checked on the source (STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "codesign"
MAX_POSITIONAL = 6
# signatures fixed by an API we mirror: torch's nn.MultiheadAttention.forward
MIRRORED = {("workload/attention.py", "forward")}


def _positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = fn.args.posonlyargs + fn.args.args
    return [a.arg for a in args if a.arg not in ("self", "cls")]


def test_functions_with_more_than_six_parameters_take_them_by_keyword():
    offenders = []
    for f in sorted(PACKAGE.rglob("*.py")):
        rel = f.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (rel, node.name) in MIRRORED:
                continue
            if len(_positional(node)) > MAX_POSITIONAL:
                offenders.append(f"{rel}:{node.lineno} {node.name}")
    assert not offenders, "more than six positional parameters: " + ", ".join(offenders)


def test_the_check_sees_a_long_positional_signature():
    src = "def f(a, b, c, d, e, g, h):\n    pass\n\ndef k(a, b, *, c, d, e, g, h):\n    pass\n"
    fns = [n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)]
    assert [len(_positional(fn)) > MAX_POSITIONAL for fn in fns] == [True, False]


def test_imports_keep_the_layer_contracts():
    """`lint-imports` (the contracts in pyproject.toml; .ci/run runs it too) passes."""
    import shutil
    import subprocess
    import sys

    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    out = subprocess.run([exe], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "2 kept, 0 broken" in out.stdout
