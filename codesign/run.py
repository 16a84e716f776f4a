"""The run directory: every input, every evaluated candidate, written as soon as it exists.

Layout of ``results/<run-id>/``::

    run.json         inputs, seed, package versions, status (running / complete / failed)
    hw.yaml          a copy of the hardware file the run priced against
    layers.json      the extracted layer graph
    candidates.csv   every evaluated candidate (appended per generation)
    finetune.csv     fine-tuned accuracies (appended as each finishes)
    pareto.csv/json  the Pareto front with per-layer bits and costs
    pareto.html      the interactive report
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from codesign.core.errors import RunError

_PACKAGES = (
    "codesign",
    "torch",
    "numpy",
    "pymoo",
    "networkx",
    "pydantic",
    "plotly",
    "scikit-learn",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {"python": platform.python_version()}
    for p in _PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` through a temporary file and a rename (never a half-written file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def save_state_atomic(state: dict, path: Path) -> None:
    """torch.save `state` to `path` through a temporary file and a rename (creates the folder)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


class RunDir:
    """A run directory being written. Files are appended and flushed as results arrive."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, tuple[Any, csv.writer]] = {}

    @staticmethod
    def new_id(workload: str, hw_name: str) -> str:
        """A sortable run id: UTC timestamp, workload and hardware names."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{workload}-{hw_name}")
        return f"{stamp}-{safe}"

    def file(self, name: str) -> Path:
        """Path of a file in this run."""
        return self.path / name

    def write_json(self, name: str, data: Any) -> None:
        """Write a JSON file atomically."""
        write_json_atomic(self.file(name), data)

    def copy_in(self, src: Path, name: str) -> None:
        """Copy an input file into the run."""
        shutil.copyfile(src, self.file(name))

    def append_rows(self, name: str, header: list[str], rows: list[list[Any]]) -> None:
        """Append rows to a CSV file (header written once) and flush them to disk."""
        if name not in self._writers:
            f = self.file(name).open("w", newline="")
            w = csv.writer(f)
            w.writerow(header)
            self._writers[name] = (f, w)
        f, w = self._writers[name]
        w.writerows(rows)
        f.flush()
        os.fsync(f.fileno())

    def close(self) -> None:
        """Close every open CSV file."""
        for f, _ in self._writers.values():
            f.close()
        self._writers.clear()


def open_run(path: str | Path) -> dict[str, Any]:
    """Read a finished run (run.json, layers.json, pareto.json); `RunError` if incomplete."""
    p = Path(path)
    if not p.is_dir():
        raise RunError(f"{p}: no such run directory")
    out = {}
    for name in ("run.json", "layers.json", "pareto.json"):
        f = p / name
        if not f.exists():
            raise RunError(
                f"{p}: missing {name} (was the run interrupted before the Pareto front?)"
            )
        try:
            out[name.removesuffix(".json")] = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise RunError(f"{f}: corrupt JSON: {exc}") from None
    return out
