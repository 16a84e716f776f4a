"""Search strategies behind one protocol (`STRATEGIES`: nsga2, random), the spaces they search,
the archive of evaluated candidates, checkpoints and the loop that ties them together."""

from codesign.search.archive import Archive
from codesign.search.loop import run_search
from codesign.search.pareto import hypervolume, pareto_mask
from codesign.search.registry import STRATEGIES, register_strategy
from codesign.search.space import LayerwiseSpace

__all__ = [
    "STRATEGIES",
    "Archive",
    "LayerwiseSpace",
    "hypervolume",
    "pareto_mask",
    "register_strategy",
    "run_search",
]
