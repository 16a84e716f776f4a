"""Workload extraction: torch model -> `LayerGraph`; the registry of ready networks."""

from codesign.workload.extract import extract
from codesign.workload.graph import LayerGraph
from codesign.workload.registry import Workload, get_workload, list_workloads, register_workload

__all__ = [
    "LayerGraph",
    "Workload",
    "extract",
    "get_workload",
    "list_workloads",
    "register_workload",
]
