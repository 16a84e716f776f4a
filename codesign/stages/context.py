"""The `Context` every stage after `prepare` reads, and the progress bars of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from codesign.config import ExploreConfig
from codesign.core.types import Objective
from codesign.cost.tables import CostTables
from codesign.data import DataSplits
from codesign.hw.family import HardwareFamily
from codesign.hw.space import HardwareSpace
from codesign.quant.train import FinetuneRecipe
from codesign.run import RunDir
from codesign.workload import Workload
from codesign.workload.graph import LayerGraph


def make_progress(console: Console) -> Progress:
    """The rich progress bars every long stage shows."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@dataclass(frozen=True)
class Context:
    """What `prepare` built: read by every later stage.

    `fp_accuracy` is the base model's held-out (test) accuracy in percent, None without data;
    `base` is (hash, serialised state) of the base weights; `fingerprint` the hashes a resume
    must match; `ranking` (channel granularity) each layer's channels from least to most
    important; `hw_space` the hardware space a sizing run searches (None on one hardware;
    `hardware` and `tables` are then its base's). Stages read it and never write to it:
    what a stage makes is its return value, and what it reports goes to run.json through `run.note`.
    """

    config: ExploreConfig
    run: RunDir
    console: Console
    hardware: Any
    family: HardwareFamily
    hw_path: Path
    workload: Workload
    graph: LayerGraph
    tables: CostTables
    objectives: tuple[Objective, ...]
    recipe: FinetuneRecipe
    data: DataSplits | None
    model: nn.Module
    fp_accuracy: float | None
    base: tuple[str, bytes]
    fingerprint: dict[str, str] = field(default_factory=dict)
    ranking: list[np.ndarray] | None = None
    hw_space: HardwareSpace | None = None

    @property
    def cache_dir(self) -> Path:
        """Where models, supernets and mapper results are cached (under the results folder)."""
        return Path(self.config.results_dir) / "cache"

    @property
    def channels(self) -> dict[str, int]:
        """Output channels of every quantizable layer."""
        return {s.name: s.K for s in self.graph.quantizable}
