"""MNIST-1D, generated locally by the mnist1d package (installed with the test extra)."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import torch

from codesign.core.errors import DataError
from codesign.data import dataset_available, how_to_get, load_dataset


def test_mnist1d_splits_shapes_and_stratification():
    d = load_dataset("mnist1d", limit=1000)
    assert (len(d.train), len(d.val), len(d.test)) == (600, 200, 200)
    x, y = d.test.tensors
    assert x.shape == (200, 1, 40) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert d.num_classes == 10
    assert np.bincount(y.numpy(), minlength=10).tolist() == [20] * 10  # stratified
    # no example sits in two splits
    rows = {
        tuple(np.round(r.numpy().ravel(), 5))
        for s in (d.train, d.val, d.test)
        for r in s.tensors[0]
    }
    assert len(rows) == 1000


def test_mnist1d_is_deterministic_and_seed_changes_only_the_split():
    a = load_dataset("mnist1d", seed=0, limit=500)
    b = load_dataset("mnist1d", seed=0, limit=500)
    c = load_dataset("mnist1d", seed=1, limit=500)
    assert torch.equal(a.test.tensors[0], b.test.tensors[0])
    assert not torch.equal(a.test.tensors[0], c.test.tensors[0])
    all_a = torch.cat([s.tensors[0] for s in (a.train, a.val, a.test)]).sum()
    all_c = torch.cat([s.tensors[0] for s in (c.train, c.val, c.test)]).sum()
    assert torch.isclose(all_a, all_c)  # the same examples, split differently


def test_mnist1d_missing_package_is_one_clear_error(monkeypatch):
    real_import = builtins.__import__

    def no_mnist1d(name, *args, **kwargs):
        if name.startswith("mnist1d"):
            raise ImportError("No module named 'mnist1d'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mnist1d)
    with pytest.raises(DataError) as e:
        load_dataset("mnist1d", limit=500)
    msg = str(e.value)
    assert "\n" not in msg and "mnist1d" in msg and "pip install" in msg


def test_mnist1d_availability_follows_the_package(monkeypatch):
    import importlib.util

    assert dataset_available("mnist1d", None)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "mnist1d" else real(n, *a)
    )
    assert not dataset_available("mnist1d", None)
    assert "pip install" in how_to_get("mnist1d")
    assert "--data" in how_to_get("cifar10")


def test_mnist1d_too_few_samples():
    with pytest.raises(DataError, match="samples must be >= 100"):
        load_dataset("mnist1d", limit=50)
