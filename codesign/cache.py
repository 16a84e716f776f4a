"""SQLite cache of candidate evaluations, shared by every run in a results folder.

Key: (workload, hash of the base weights, configuration, recipe, seed) hashed to one string,
so a re-run or a resumed run never fine-tunes the same candidate twice. The database runs in
WAL mode with a busy timeout: several processes may write at once, and a process killed in
the middle of a write leaves the last committed state (SQLite's atomic commit).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

_SCHEMA = """
CREATE TABLE IF NOT EXISTS evals (
    key TEXT PRIMARY KEY,
    workload TEXT NOT NULL,
    base_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    recipe TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    accuracy REAL,
    ptq_accuracy REAL,
    final_loss REAL,
    reason TEXT,
    seconds REAL,
    created REAL NOT NULL,
    extra TEXT
)
"""

_FIELDS = ("status", "accuracy", "ptq_accuracy", "final_loss", "reason", "seconds")
_EXTRA = ("accuracies",)  # result keys kept as JSON in `extra` (a column added in v2)


def weights_hash(model: torch.nn.Module) -> str:
    """SHA-256 (hex, 16 chars) of a model's state: names, shapes, dtypes and bytes."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()[:16]


def eval_key(
    workload: str, base_hash: str, config: Mapping[str, Any], recipe: Mapping[str, Any], seed: int
) -> str:
    """The cache key of one evaluation (hex SHA-256 of its canonical JSON)."""
    doc = {
        "workload": workload,
        "base": base_hash,
        "config": config,
        "recipe": recipe,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


class EvalCache:
    """Evaluations keyed by `eval_key`; one connection per instance (open one per process)."""

    def __init__(self, path: str | Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._open(timeout_s)
        except sqlite3.DatabaseError as exc:  # not a database, or damaged: never fatal
            self._db.close()
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.replace(aside)
            for extra in ("-wal", "-shm"):
                self.path.with_name(self.path.name + extra).unlink(missing_ok=True)
            warnings.warn(
                f"{self.path}: corrupt evaluation cache ({exc}); set aside as {aside.name}, "
                "starting an empty one (its fine-tunes run again)",
                RuntimeWarning,
                stacklevel=2,
            )
            self._open(timeout_s)

    def _open(self, timeout_s: float) -> None:
        self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        self._db.execute(_SCHEMA)
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(evals)")}
        if "extra" not in cols:  # a cache written before the column existed
            self._db.execute("ALTER TABLE evals ADD COLUMN extra TEXT")
        if self._db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("integrity check failed")

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result for `key` (status, accuracy, ...), or None."""
        row = self._db.execute(
            f"SELECT {', '.join(_FIELDS)}, extra FROM evals WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        out = dict(zip(_FIELDS, row[:-1]))
        if row[-1]:
            out.update(json.loads(row[-1]))
        return out

    def put(
        self,
        key: str,
        *,
        workload: str,
        base_hash: str,
        config: Mapping[str, Any],
        recipe: Mapping[str, Any],
        seed: int,
        result: Mapping[str, Any],
    ) -> None:
        """Store one result atomically (a later result for the same key replaces it)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO evals (key, workload, base_hash, config, recipe, seed, "
                f"{', '.join(_FIELDS)}, created, extra) VALUES ({', '.join('?' * 14)})",
                (
                    key,
                    workload,
                    base_hash,
                    json.dumps(config, sort_keys=True),
                    json.dumps(recipe, sort_keys=True),
                    seed,
                    *(result.get(f) for f in _FIELDS),
                    time.time(),
                    json.dumps({k: result[k] for k in _EXTRA if result.get(k) is not None}) or None,
                ),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM evals").fetchone()[0])

    def integrity_ok(self) -> bool:
        """True when SQLite's integrity check passes."""
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
