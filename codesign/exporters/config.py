"""`--format config` (YAML), `yaml` and `json`: the versioned quant config `apply_config` reads."""

from __future__ import annotations

from pathlib import Path

from codesign.export import export_config
from codesign.exporters import ExportResult, register_exporter


@register_exporter("config")
@register_exporter("yaml")
def export_yaml(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """The point's bits, mapping and predicted costs per layer, as YAML."""
    return ExportResult((export_config(run_dir, pick, path, "yaml"),))


@register_exporter("json")
def export_json(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """The same config as JSON."""
    return ExportResult((export_config(run_dir, pick, path, "json"),))
