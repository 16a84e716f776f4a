"""Exporters: one registry (`EXPORTERS`), one module per format, `codesign export RUN --pick N
--format NAME`.

An exporter is a function ``(run_dir, pick, path) -> ExportResult``: it writes Pareto point
`pick` of the run in `run_dir` to `path` (a default path under the run when None) and says what
it wrote and what it checked. Exporters that need the fine-tuned model read the artefact its
fine-tune kept under its cache key (`codesign.quant.evaluate.load_artefact`); none trains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codesign.core.errors import CodesignError
from codesign.core.protocols import Exporter
from codesign.core.registry import Registry


@dataclass(frozen=True)
class ExportResult:
    """What an exporter wrote (`paths`, the main one first) and what it checked (`checks`:
    name -> value, e.g. the runtime's accuracy and the largest logit difference)."""

    paths: tuple[Path, ...]
    checks: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        """The main file written."""
        return self.paths[0]


EXPORTERS: Registry[Exporter] = Registry("export format", builtin="codesign.exporters._builtin")


def conv_linear_only(model: Any, fmt: str) -> None:
    """`ConfigError` when the fine-tuned `model` holds a quantized matmul of two activations
    or a transposed convolution, which the deployable formats (`fmt`) do not write yet."""
    from torch import nn

    from codesign.core.errors import ConfigError
    from codesign.quant.fakequant import QuantLayer, QuantMatMul

    for path, m in model.named_modules():
        transposed = isinstance(m, QuantLayer) and isinstance(
            m.inner, (nn.ConvTranspose1d, nn.ConvTranspose2d)
        )
        if isinstance(m, QuantMatMul) or transposed:
            what = "a matmul of two activations" if not transposed else "a transposed conv"
            raise ConfigError(
                f"--format {fmt}: module '{path}' is {what}, which this format does not "
                "write yet; export --format config (or yaml / json) and apply it with "
                "codesign.quant.apply_config"
            )


def register_exporter(name: str, needs_pick: bool = True) -> Callable[[Exporter], Exporter]:
    """Decorator: register an exporter function under `--format name`. `needs_pick=False`
    for a format that writes the whole front (its `pick` argument is None)."""

    def deco(fn: Exporter) -> Exporter:
        EXPORTERS.add(name, fn)
        _WHOLE_FRONT.discard(name)
        if not needs_pick:
            _WHOLE_FRONT.add(name)
        return fn

    return deco


_WHOLE_FRONT: set[str] = set()


def needs_pick(fmt: str) -> bool:
    """Whether `--format fmt` writes one Pareto point (and so needs `--pick`)."""
    EXPORTERS.get(fmt, "--format")
    return fmt not in _WHOLE_FRONT


def export(
    run_dir: str | Path,
    pick: int | None,
    fmt: str = "config",
    path: str | Path | None = None,
    *,
    workload: str | None = None,
    data: str | None = None,
) -> ExportResult:
    """Write Pareto point `pick` of `run_dir` in format `fmt` (see `EXPORTERS.names()`);
    `pick` is None for the formats that write the whole front (`needs_pick`).

    A run whose workload (or data) is ``package.module:function`` is exported only when
    `workload` (`data`) names the same: a run folder received from someone else runs none of
    its sender's code. `path`'s folder is created when missing."""
    from codesign.config import ExploreConfig
    from codesign.core.imports import refuse_unnamed

    fn = EXPORTERS.get(fmt, "--format")
    if pick is None and needs_pick(fmt):
        raise CodesignError(f"--format {fmt} writes one Pareto point: give --pick N")
    run_dir = Path(run_dir)
    if (run_dir / "run.json").exists():
        cfg = ExploreConfig.from_run(run_dir)
        refuse_unnamed(cfg.workload, workload, str(run_dir / "run.json"), "--workload")
        refuse_unnamed(cfg.data, data, str(run_dir / "run.json"), "--data")
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
    return fn(run_dir, pick, path)
