"""Search strategies behind one protocol (`STRATEGIES`: nsga2, random, dnas, csq, hawq), the
spaces they search, the archive of evaluated candidates, checkpoints and the loop that ties
them together."""

from codesign.search.archive import Archive
from codesign.search.loop import run_search
from codesign.search.registry import STRATEGIES, register_strategy
from codesign.search.space import LayerwiseSpace

__all__ = [
    "STRATEGIES",
    "Archive",
    "LayerwiseSpace",
    "register_strategy",
    "run_search",
]
