"""The bundled workloads as `codesign workloads` lists them, read without importing torch.

Each bundled network registers itself with ``@register_workload("name", input_shape=...,
description=..., dataset=...)`` in ``codesign/workloads/*.py``. Building the registry imports
torch and every model (seconds); listing names needs neither, so this module reads those
decorators from the source files (`ast`, literal arguments and module-level constants only).
The decorators stay the one place a workload is declared; MACs and weights still need the
model, so `codesign workloads --macs` builds and extracts each one.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_WORKLOADS_DIR = Path(__file__).resolve().parent.parent / "workloads"


@dataclass(frozen=True)
class CatalogueEntry:
    """What a bundled workload's decorator says: its name, input shape (batch included),
    description, dataset (None when no data ships with codesign) and module."""

    name: str
    input_shape: tuple[int, ...]
    description: str
    dataset: str | None
    module: str


def _constants(tree: ast.Module) -> dict[str, Any]:
    """Module-level ``NAME = literal`` assignments (e.g. ``IMAGENET = (1, 3, 224, 224)``)."""
    out: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    out[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return out


def _value(node: ast.expr, consts: dict[str, Any], where: str) -> Any:
    if isinstance(node, ast.Name) and node.id in consts:
        return consts[node.id]
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(
            f"{where}: register_workload arguments must be literals or module constants "
            "(so `codesign workloads` can list them without importing torch)"
        ) from None


def _entries(path: Path) -> list[CatalogueEntry]:
    tree = ast.parse(path.read_text(), filename=str(path))
    consts = _constants(tree)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in node.decorator_list:
            if not (
                isinstance(deco, ast.Call)
                and isinstance(deco.func, ast.Name)
                and deco.func.id == "register_workload"
            ):
                continue
            where = f"{path.name}:{deco.lineno}"
            name = _value(deco.args[0], consts, where)
            kw = {k.arg: _value(k.value, consts, where) for k in deco.keywords if k.arg}
            out.append(
                CatalogueEntry(
                    name=name,
                    input_shape=tuple(kw["input_shape"]),
                    description=kw.get("description", ""),
                    dataset=kw.get("dataset"),
                    module=f"codesign.workloads.{path.stem}",
                )
            )
    return out


def bundled_workloads() -> list[CatalogueEntry]:
    """Every bundled workload, sorted by name, read from the decorators in
    ``codesign/workloads/`` without importing them (no torch)."""
    entries = [e for f in sorted(_WORKLOADS_DIR.glob("*.py")) for e in _entries(f)]
    return sorted(entries, key=lambda e: e.name)
