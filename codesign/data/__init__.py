"""Datasets that train and score workloads. Only scikit-learn's 8x8 digits ship on every machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from codesign.core.errors import DataError


@dataclass(frozen=True)
class DataSplits:
    """Train / validation / held-out test splits as tensors (inputs float32, labels int64).

    The validation split drives cheap estimates during a search; the test split is touched only
    for the numbers a run reports.
    """

    name: str
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_classes: int


def _split(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified 60 / 20 / 20 index split, deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    train, val, test = [], [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        n_val = round(0.2 * len(idx))
        n_test = round(0.2 * len(idx))
        test.extend(idx[:n_test])
        val.extend(idx[n_test : n_test + n_val])
        train.extend(idx[n_test + n_val :])
    return np.sort(train), np.sort(val), np.sort(test)


def load_digits_splits(seed: int = 0) -> DataSplits:
    """scikit-learn's 1,797 8x8 digit images, scaled to [0, 1], shaped (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    tr, va, te = _split(x, y, seed)

    def ds(i: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.from_numpy(x[i]), torch.from_numpy(y[i]))

    return DataSplits("digits", ds(tr), ds(va), ds(te), num_classes=10)


def _cifar10(seed: int, path: str | Path | None, limit: int | None) -> DataSplits:
    from codesign.data.cifar10 import load_cifar10_splits

    return load_cifar10_splits(_need(path, "cifar10"), seed=seed, limit=limit)


def _speech(seed: int, path: str | Path | None, limit: int | None) -> DataSplits:
    from codesign.data.speech_commands import load_speech_commands_splits

    return load_speech_commands_splits(_need(path, "speech_commands"), seed=seed, limit=limit)


def _digits(seed: int, path: str | Path | None, limit: int | None) -> DataSplits:
    return load_digits_splits(seed)


def _need(path: str | Path | None, name: str) -> Path:
    if path is None:
        raise DataError(
            f"dataset '{name}' is not on this machine: give its local folder with --data"
        )
    return Path(path)


# name -> (loader, needs a --data path)
_LOADERS = {
    "digits": (_digits, False),
    "cifar10": (_cifar10, True),
    "speech_commands": (_speech, True),
}


def dataset_available(name: str | None, path: str | Path | None) -> bool:
    """True when `name` can be loaded here: it ships with codesign or `path` is given."""
    return name is not None and name in _LOADERS and (not _LOADERS[name][1] or path is not None)


def load_dataset(
    name: str, seed: int = 0, path: str | Path | None = None, limit: int | None = None
) -> DataSplits:
    """Load a named dataset's splits (from `path` for datasets that do not ship with codesign).

    Raises `DataError` for an unknown name, a missing path, or malformed files.
    """
    if name not in _LOADERS:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(sorted(_LOADERS))}")
    return _LOADERS[name][0](seed, path, limit)
