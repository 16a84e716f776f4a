"""Hostile files for the bad-input corpus: each payload, if it ran, would create a marker file.

A test feeds the file to codesign and asserts the marker was never created, so a loader that
executes what a file names fails the test instead of passing it silently.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import torch


class Payload:
    """Unpickling this runs ``touch MARKER`` through `os.system` (what a sender could do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def pickle_payload(marker: Path) -> bytes:
    """A plain pickle whose loading creates `marker`."""
    return pickle.dumps({"format": "codesign.checkpoint", "x": Payload(marker)})


def torch_payload(marker: Path, doc: dict | None = None) -> bytes:
    """A `torch.save` file (a dict, `doc` and the payload) whose `weights_only=False` load
    creates `marker`."""
    buf = io.BytesIO()
    torch.save({**(doc or {}), "x": Payload(marker)}, buf)
    return buf.getvalue()


def module_payload(folder: Path, name: str, marker: Path) -> str:
    """Write module `name` into `folder` whose import creates `marker`; returns
    'name:build', the workload spec that names it."""
    (folder / f"{name}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "import torch\n\ndef build():\n    return torch.nn.Sequential(torch.nn.Linear(4, 2)), "
        "torch.zeros(1, 4)\n"
    )
    return f"{name}:build"
