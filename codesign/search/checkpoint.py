"""Atomic checkpoints of a search: strategy state, RNG state, archive and generation.

Written after every generation with `torch.save` through a temporary file, fsync and rename, so
a process killed at any moment leaves either the previous checkpoint or the new one, never half
of one. A resumed search restores it and goes on from the next generation.

A checkpoint holds data, and is read as data: `torch.load(weights_only=True)`, which rebuilds
tensors and plain containers and calls no global but the ones allowed here (numpy's array and
generator reconstruction, the search's own state classes, pymoo's classes). A file that names
anything else (``os.system``, ``builtins.exec``, a module not loaded) is refused before a byte
of it is unpickled, so a run folder received from someone else runs none of its sender's code.
"""

from __future__ import annotations

import io
import random
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from codesign.core.errors import RunError
from codesign.core.files import write_bytes_atomic

FORMAT = "codesign.checkpoint"
VERSION = 2  # 1: a plain pickle (refused: unpickling it may run code)

# The globals a checkpoint may name, beyond what `weights_only` rebuilds itself: numpy arrays,
# scalars and random generators, the archive's batches, the NSGA-II strategy's pymoo classes.
_ALLOWED = frozenset(
    {
        "builtins.bytes",
        "builtins.float",
        "builtins.int",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.sum",
        "numpy.core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "codesign.core.candidates.CandidateBatch",
        "codesign.search.nsga2.TypedCrossover",
        "codesign.search.nsga2.TypedMutation",
        "codesign.search.nsga2._Bounds",
        # pymoo functions NSGA-II keeps as attributes; pymoo's classes are allowed by kind
        "pymoo.algorithms.moo.nsga2.binary_tournament",
        "pymoo.core.duplicate.default_attr",
        "pymoo.operators.survival.rank_and_crowding.metrics.calc_crowding_distance",
    }
)


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
        import torch

        doc = {"format": FORMAT, "version": VERSION, "rng": rng_state(), **state}
        buf = io.BytesIO()
        torch.save(doc, buf)
        write_bytes_atomic(self.path, buf.getvalue())
        self.saved += 1

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint, or None when there is none; `RunError` when it is unreadable."""
        if self.path is None or not self.path.exists():
            return None
        doc = load_data(self.path)
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise RunError(f"{self.path}: not a codesign checkpoint")
        if doc.get("version") != VERSION:
            raise RunError(
                f"{self.path}: checkpoint version {doc.get('version')}, this codesign reads "
                f"{VERSION}"
            )
        return doc


def _allowed_global(name: str) -> Any | None:
    """The object a checkpoint's global `name` ('module.attr') stands for when a checkpoint may
    name it, else None. Only modules already loaded are looked in (none is imported)."""
    module, _, attr = name.rpartition(".")
    obj = getattr(sys.modules.get(module), attr, None)
    if obj is None:
        return None
    if name in _ALLOWED:
        return obj
    pymoo_class = module.startswith("pymoo.") and isinstance(obj, type)
    return obj if pymoo_class and obj.__module__ == module else None


def load_data(path: Path) -> Any:
    """What `Checkpointer.save` wrote to `path`, read with `torch.load(weights_only=True)` and
    the globals `_allowed_global` admits; `RunError` naming the file when it is not such a file
    (an old plain pickle, a truncated file) or names any other global."""
    import torch

    if not zipfile.is_zipfile(path):
        raise RunError(
            f"{path}: not a checkpoint this codesign reads (a plain pickle, written by codesign "
            "0.1 or by someone else, may run code when loaded, so it is not loaded); rerun the "
            "search without --resume"
        )
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as exc:  # noqa: BLE001 - a damaged archive, whatever torch says
        raise RunError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    # numpy's dtype instances rebuild through their classes' __setstate__ without naming them
    dtypes = getattr(np, "dtypes", None)  # numpy >= 1.25
    allowed = [t for t in vars(dtypes).values() if isinstance(t, type)] if dtypes else []
    for name in sorted(names):
        obj = _allowed_global(name)
        if obj is None:
            raise RunError(
                f"{path}: the checkpoint names '{name}', which no codesign checkpoint holds; "
                "refused without loading it (it could run code)"
            )
        allowed.append(obj)
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated, or refused by torch's unpickler
        first = (str(exc).splitlines() or [""])[0]
        raise RunError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {first})") from None
