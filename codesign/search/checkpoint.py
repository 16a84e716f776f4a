"""Atomic checkpoints of a search: strategy state, RNG state, archive and generation.

Written after every generation as one pickle through a temporary file, fsync and rename, so a
process killed at any moment leaves either the previous checkpoint or the new one, never half
of one. A resumed search restores it and goes on from the next generation.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np

from codesign.core.errors import RunError

FORMAT = "codesign.checkpoint"
VERSION = 1


def rng_state() -> dict[str, Any]:
    """The global random states a strategy's operators might draw from."""
    return {"numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


class Checkpointer:
    """Saves and loads the checkpoint file at `path` (None: checkpoints off)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.saved = 0

    def save(self, state: dict[str, Any]) -> None:
        """Write `state` atomically (with format, version and the global RNG states)."""
        if self.path is None:
            return
        doc = {"format": FORMAT, "version": VERSION, "rng": rng_state(), **state}
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as f:
            pickle.dump(doc, f, protocol=pickle.HIGHEST_PROTOCOL)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.saved += 1

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint, or None when there is none; `RunError` when it is unreadable."""
        if self.path is None or not self.path.exists():
            return None
        try:
            with self.path.open("rb") as f:
                doc = pickle.load(f)  # noqa: S301 (our own file, in the user's run directory)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means the same
            raise RunError(f"{self.path}: unreadable checkpoint ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise RunError(f"{self.path}: not a codesign checkpoint")
        if doc.get("version") != VERSION:
            raise RunError(
                f"{self.path}: checkpoint version {doc.get('version')}, this codesign reads "
                f"{VERSION}"
            )
        return doc
