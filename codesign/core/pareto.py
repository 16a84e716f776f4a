"""Non-dominated filtering, hypervolume and spread of objective matrices (minimisation)."""

from __future__ import annotations

import numpy as np
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting


def pareto_mask(F: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Boolean mask of the feasible, non-dominated rows of F (duplicates kept once)."""
    mask = np.zeros(len(F), dtype=bool)
    idx = np.flatnonzero(feasible)
    if len(idx) == 0:
        return mask
    front = idx[NonDominatedSorting().do(F[idx], only_non_dominated_front=True)]
    # equal objective vectors do not dominate each other: keep the first evaluated of each
    front = np.sort(front)
    _, first = np.unique(F[front], axis=0, return_index=True)
    mask[front[first]] = True
    return mask


def hypervolume(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray, ref: float = 1.1) -> float:
    """Hypervolume of the rows of F (pymoo's indicator) after normalising each objective to
    [0, 1] between `ideal` and `nadir`; the reference point is `ref` in every objective."""
    from pymoo.indicators.hv import HV

    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    Fn = (np.asarray(F, dtype=np.float64) - ideal) / span
    return float(HV(ref_point=np.full(F.shape[1], ref))(Fn)) if len(Fn) else 0.0


def spread(n_points: int, k: int) -> list[int]:
    """Up to `k` indices spread evenly over ``range(n_points)`` (both ends included)."""
    if n_points <= k:
        return list(range(n_points))
    return sorted(set(np.linspace(0, n_points - 1, k).round().astype(int).tolist()))
