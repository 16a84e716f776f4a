"""Datasets that train and score workloads.

scikit-learn's 8x8 digits ship on every machine; MNIST-1D is generated locally when the optional
`mnist1d` package is installed; CIFAR-10 and Speech Commands are read from a folder the user gives.
Your own data comes in as a function returning its splits: ``--data package.module:function``,
or registered by name with `register_dataset` (the contract: `codesign.data.user`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import TensorDataset

from codesign.core.errors import DataError
from codesign.core.registry import Registry
from codesign.data import mnist1d, user


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


def _splits_of(name: str, x: np.ndarray, y: np.ndarray, seed: int) -> DataSplits:
    """Inputs `x` and labels `y` split 60 / 20 / 20 (stratified by `_split`) as tensors."""
    tr, va, te = _split(x, y, seed)

    def ds(i: np.ndarray) -> TensorDataset:
        return TensorDataset(torch.from_numpy(x[i]), torch.from_numpy(y[i]))

    return DataSplits(name, ds(tr), ds(va), ds(te), num_classes=int(y.max()) + 1)


def load_digits_splits(seed: int = 0) -> DataSplits:
    """scikit-learn's 1,797 8x8 digit images, scaled to [0, 1], shaped (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    return _splits_of("digits", x, d.target.astype(np.int64), seed)


def _cifar10(seed: int, path: str | Path | None, limit: int | None) -> DataSplits:
    from codesign.data.cifar10 import load_cifar10_splits

    return load_cifar10_splits(_need(path, "cifar10"), seed=seed, limit=limit)


def _speech(seed: int, path: str | Path | None, limit: int | None) -> DataSplits:
    from codesign.data.speech_commands import load_speech_commands_splits

    return load_speech_commands_splits(_need(path, "speech_commands"), seed=seed, limit=limit)


def _digits(seed: int, path: str | Path | None, limit: int | None) -> DataSplits:
    return load_digits_splits(seed)


def _mnist1d(seed: int, path: str | Path | None, limit: int | None) -> DataSplits:
    """MNIST-1D, generated locally (`limit` examples, default 10,000), then split."""
    x, y = mnist1d.generate_mnist1d(limit or mnist1d.DEFAULT_SAMPLES)
    return _splits_of("mnist1d", x, y, seed)


_GIVE_PATH = "give its local folder with --data PATH"


def _need(path: str | Path | None, name: str) -> Path:
    if path is None:
        raise DataError(f"dataset '{name}' is not on this machine: {_GIVE_PATH}")
    return Path(path)


class _Source(NamedTuple):
    """How a named dataset is loaded, and what makes it available here."""

    load: Callable[[int, str | Path | None, int | None], DataSplits]
    needs_path: bool  # read from a folder the user gives with --data
    installed: Callable[[], bool]  # whether what generates it is installed
    how: str  # what makes it available, for messages


DATASETS: Registry[_Source] = Registry("dataset")
DATASETS.add("digits", _Source(_digits, False, lambda: True, "it ships with codesign"))
DATASETS.add("mnist1d", _Source(_mnist1d, False, mnist1d.mnist1d_installed, mnist1d.INSTALL))
DATASETS.add("cifar10", _Source(_cifar10, True, lambda: True, _GIVE_PATH))
DATASETS.add("speech_commands", _Source(_speech, True, lambda: True, _GIVE_PATH))


def register_dataset(name: str) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """Decorator: register a data function (see `codesign.data.user` for what it returns) as
    dataset `name`, for `--data name` or a workload's ``dataset=``. Returns the function."""

    def deco(fn: Callable[[], object]) -> Callable[[], object]:
        DATASETS.add(
            name,
            _Source(
                lambda seed, path, limit: user.load_function(name, fn),
                False,
                lambda: True,
                "registered with codesign.data.register_dataset",
            ),
        )
        return fn

    return deco


def is_data_function(spec: str | None) -> bool:
    """True when `spec` names a data function (package.module:function) or a registered
    dataset, rather than a folder."""
    if spec is None:
        return False
    return spec in DATASETS or (user.is_function_spec(spec) and not Path(spec).exists())


def dataset_available(name: str | None, path: str | Path | None) -> bool:
    """True when `name` can be loaded here: it ships with codesign (or is generated by an
    installed package), it is a data function, or its folder `path` is given."""
    if name is not None and name not in DATASETS and user.is_function_spec(name):
        return True
    if name is None or name not in DATASETS:
        return False
    src = DATASETS.get(name)
    return src.installed() and (not src.needs_path or path is not None)


def dataset_needs_path(name: str | None) -> bool:
    """True for datasets read from a folder the user gives with --data."""
    return name in DATASETS and DATASETS.get(name).needs_path


def how_to_get(name: str | None) -> str:
    """What makes dataset `name` available here, as a short instruction for an error message."""
    if name is None or name not in DATASETS:
        return "this workload names no dataset codesign can load"
    return DATASETS.get(name).how


def load_dataset(
    name: str, seed: int = 0, path: str | Path | None = None, limit: int | None = None
) -> DataSplits:
    """Load a named dataset's splits (from `path` for datasets that do not ship with codesign).

    `name` may be ``package.module:function`` (a data function, see `codesign.data.user`).
    Raises `DataError` for an unknown name, a missing path, or malformed files.
    """
    if name not in DATASETS and user.is_function_spec(name):
        return user.load_function(name)
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}'; known: {', '.join(DATASETS.names())}")
    return DATASETS.get(name).load(seed, path, limit)
