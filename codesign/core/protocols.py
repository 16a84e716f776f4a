"""Protocols the stages plug into."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class AccuracyEstimator(Protocol):
    """Estimates how much accuracy a population of configurations loses."""

    def loss(self, act_idx: np.ndarray, weight_idx: np.ndarray) -> np.ndarray:
        """Accuracy loss in percentage points for [P, L] indices into the cost tables' bits."""
        ...
