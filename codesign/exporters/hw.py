"""`--format hw`: the hardware file of a Pareto point of a sizing run (`--hw-space`).

It writes the point's hardware exactly as the run priced it (pareto.json keeps each point's
hardware document): the base file's figures, the point's sizes, and the energies the component
table scaled, so `codesign explore --hw FILE` (or `load_hardware`) prices the point again to
the same figures. Read from run files only; nothing is recomputed here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from codesign.core.errors import RunError
from codesign.core.files import write_text_atomic
from codesign.exporters import ExportResult, register_exporter
from codesign.run import open_run


@register_exporter("hw")
def export_hw(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """Pareto point `pick`'s hardware file (YAML), by default ``<run_dir>/hw-<pick>.yaml``."""
    rd = open_run(run_dir)
    front = rd.load_front()
    if not 0 <= pick < len(front):
        raise RunError(f"--pick {pick}: {run_dir} has Pareto points #0..#{len(front) - 1}")
    c = front.candidates[pick]
    if c.hardware_doc is None:
        raise RunError(
            f"--format hw: {run_dir} searched one fixed hardware (no --hw-space); its hardware "
            "file is the run's hw.yaml"
        )
    info = rd.read_info()
    space = info.get("hw_space", {})
    params = ", ".join(f"{k} = {v:g}" for k, v in (c.hardware or ()))
    header = (
        f"# Pareto point #{pick} (candidate {c.id}) of {run_dir}, exported by codesign export "
        "--format hw.\n"
        f"# Sized from the space {space.get('name', '?')} ({space.get('file', '?')}): {params}.\n"
        f"# Area {c.area_mm2:.4f} mm2 by {space.get('components', '?')}. The base file's\n"
        "# figures and sources hold; energies of resized memories are scaled by that table.\n"
    )
    out = Path(path) if path is not None else Path(run_dir) / f"hw-{pick}.yaml"
    write_text_atomic(out, header + yaml.safe_dump(c.hardware_doc, sort_keys=False))
    return ExportResult((out,), {"area_mm2": c.area_mm2, **dict(c.hardware or ())})
