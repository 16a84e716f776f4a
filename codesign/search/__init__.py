"""Search strategies over bit-widths (and, for accelerators, mappings)."""

from codesign.search.nsga2 import BitWidthProblem, pareto_mask, run_nsga2

__all__ = ["BitWidthProblem", "pareto_mask", "run_nsga2"]
