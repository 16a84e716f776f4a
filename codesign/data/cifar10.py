"""CIFAR-10 from a local copy of its "python version" (the `cifar-10-batches-py` folder).

Nothing is downloaded: the caller points at a folder already on disk. The batches are pickles, so
they are read with an unpickler that only rebuilds numpy arrays and plain containers; a file that
asks for anything else is refused rather than executed.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from codesign.core.errors import DataError
from codesign.data import DataSplits

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
NUM_CLASSES = 10
VAL_FRACTION = 0.1

# Per-channel (R, G, B) mean and population standard deviation of the 50,000 CIFAR-10 training
# images (data_batch_1..5) with pixels scaled to [0, 1]: mean 0.49140, 0.48216, 0.44653 and std
# 0.24703, 0.24349, 0.26159, rounded to four decimals. (The also-common std 0.2023, 0.1994, 0.2010
# is the mean of per-image stds, not the dataset std.)
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# The only globals a CIFAR batch pickle needs: numpy's array reconstruction (numpy 1 and 2 names),
# plus `_codecs.encode`, which Python 3 protocol-2 pickles use to store bytes.
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and builtin containers and refuses every other class."""

    def find_class(self, module: str, name: str) -> Any:
        """Return the global if it is on the allow-list; raise `UnpicklingError` otherwise."""
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _resolve_folder(path: str | Path) -> Path:
    """Return the folder holding the batch files: `path` itself or its `cifar-10-batches-py`."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root}: no such CIFAR-10 folder")
    if not root.is_dir():
        hint = " (extract the archive first)" if root.name.endswith((".tar.gz", ".tgz")) else ""
        raise DataError(f"{root}: not a folder; expected the '{FOLDER}' folder{hint}")
    nested = root / FOLDER
    if nested.is_dir():
        return nested
    return root


def _get(batch: dict, key: str) -> Any:
    """Return `batch[key]`, accepting the bytes keys of the original pickles or str keys."""
    if key.encode() in batch:
        return batch[key.encode()]
    return batch.get(key)


def _read_batch(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return one batch's images as uint8 (N, 3, 32, 32) and labels as int64 (N,).

    Raises `DataError` (one line naming `file`) when the file is missing, unreadable or malformed.
    """
    if not file.is_file():
        raise DataError(f"{file}: missing CIFAR-10 batch file")
    try:
        with file.open("rb") as fh:
            batch = _ArrayUnpickler(fh, encoding="bytes").load()
    except OSError as exc:
        raise DataError(f"{file}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # pickle raises many types on corrupt input
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{file}: not a readable CIFAR-10 pickle ({detail})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{file}: expected a pickled dict, got {type(batch).__name__}")
    data, labels = _get(batch, "data"), _get(batch, "labels")
    if data is None or labels is None:
        raise DataError(f"{file}: missing key b'data' or b'labels'")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = data.dtype if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{file}: b'data' must be a uint8 array, got {kind}")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{file}: b'data' must have shape (N, 3072), got {tuple(data.shape)}")
    try:
        y = np.asarray(labels)
    except Exception:
        raise DataError(f"{file}: b'labels' is not a list of integers") from None
    if y.ndim != 1 or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise DataError(f"{file}: b'labels' must be a flat list of integers")
    if len(y) != len(data):
        raise DataError(f"{file}: {len(data)} images but {len(y)} labels")
    if y.size and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise DataError(
            f"{file}: labels must lie in 0..{NUM_CLASSES - 1}, found {int(y.min())}..{int(y.max())}"
        )
    # Each row is 1024 red, then 1024 green, then 1024 blue values, each plane row-major 32 x 32.
    return data.reshape(-1, 3, 32, 32), y.astype(np.int64)


def _stratified_val(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a boolean mask selecting round(10%) of each class, chosen by `rng`."""
    mask = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        mask[idx[: round(VAL_FRACTION * len(idx))]] = True
    return mask


def stratified_cap(y: np.ndarray, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    """Return sorted indices of at most `limit` samples, classes as balanced as possible.

    Samples are drawn in a random order from `rng`, taking one of every class in turn, so a small
    `limit` still covers every class. With `limit=None` every index is returned.
    """
    if limit is None or limit >= len(y):
        return np.arange(len(y))
    order = rng.permutation(len(y))
    rank = np.zeros(len(y), dtype=np.int64)
    seen: dict[int, int] = {}
    for pos, i in enumerate(order):
        c = int(y[i])
        rank[pos] = seen.get(c, 0)
        seen[c] = rank[pos] + 1
    picked = order[np.argsort(rank, kind="stable")[:limit]]
    return np.sort(picked)


def check_limit(limit: int | None) -> None:
    """Return None if `limit` is None or a positive integer; raise `DataError` otherwise."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise DataError(f"limit must be a positive integer or None, got {limit!r}")


def _to_dataset(images: np.ndarray, labels: np.ndarray) -> TensorDataset:
    """Return a TensorDataset of normalised float32 (N, 3, 32, 32) inputs and int64 labels."""
    mean = np.asarray(CIFAR10_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR10_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    x = (images.astype(np.float32) / np.float32(255.0) - mean) / std
    return TensorDataset(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(labels))


def load_cifar10_splits(path: str | Path, seed: int = 0, limit: int | None = None) -> DataSplits:
    """Load CIFAR-10 from a local `cifar-10-batches-py` folder (or its parent); download nothing.

    Returns `DataSplits` named "cifar10" with 10 classes and inputs shaped (N, 3, 32, 32), float32,
    normalised per channel with `CIFAR10_MEAN` / `CIFAR10_STD`. Train is `data_batch_1..5` minus a
    stratified 10% validation split chosen by `seed`; test is `test_batch`. `limit` caps the
    number of samples in each split (a class-balanced subset, deterministic in `seed`).
    Raises `DataError` naming the offending file for a missing or malformed dataset.
    """
    check_limit(limit)
    folder = _resolve_folder(path)
    parts = [_read_batch(folder / name) for name in TRAIN_FILES]
    x_all = np.concatenate([p[0] for p in parts])
    y_all = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_batch(folder / TEST_FILE)

    val_mask = _stratified_val(y_all, np.random.default_rng([seed, 0]))
    tr, va = np.flatnonzero(~val_mask), np.flatnonzero(val_mask)
    tr = tr[stratified_cap(y_all[tr], limit, np.random.default_rng([seed, 1]))]
    va = va[stratified_cap(y_all[va], limit, np.random.default_rng([seed, 2]))]
    te = stratified_cap(y_test, limit, np.random.default_rng([seed, 3]))
    return DataSplits(
        "cifar10",
        _to_dataset(x_all[tr], y_all[tr]),
        _to_dataset(x_all[va], y_all[va]),
        _to_dataset(x_test[te], y_test[te]),
        num_classes=NUM_CLASSES,
    )
