"""Workload extraction: torch model -> `LayerGraph`; the registry of ready networks.

The names below are imported on first use (PEP 562), so that `codesign.workload.catalogue`
(what `codesign workloads` lists) loads without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codesign.workload.extract import extract
    from codesign.workload.graph import LayerGraph
    from codesign.workload.registry import (
        Workload,
        get_workload,
        list_workloads,
        register_workload,
    )

_WHERE = {
    "extract": "codesign.workload.extract",
    "LayerGraph": "codesign.workload.graph",
    "Workload": "codesign.workload.registry",
    "get_workload": "codesign.workload.registry",
    "list_workloads": "codesign.workload.registry",
    "register_workload": "codesign.workload.registry",
}

__all__ = [
    "LayerGraph",
    "Workload",
    "extract",
    "get_workload",
    "list_workloads",
    "register_workload",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'codesign.workload' has no attribute {name!r}")
