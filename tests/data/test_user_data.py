"""Your own data: `--data package.module:function`, `explore(model=..., data=...)`, errors."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from codesign.core.errors import DataError
from codesign.data import load_dataset, register_dataset
from codesign.data.user import check_against_model, splits_from

USER_MODULE = textwrap.dedent(
    '''
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Dataset, TensorDataset


    def model():
        torch.manual_seed(0)
        net = nn.Sequential(
            nn.Conv1d(1, 8, 3, padding=1), nn.BatchNorm1d(8), nn.ReLU(),
            nn.Flatten(), nn.Linear(8 * 16, 3),
        )
        return net, torch.zeros(1, 1, 16)


    class Waves(Dataset):
        """Three classes of noisy sine waves; labels as numpy ints."""

        def __init__(self, n, seed):
            rng = np.random.default_rng(seed)
            self.y = rng.integers(0, 3, n)
            t = np.linspace(0, 1, 16)
            self.x = np.sin(2 * np.pi * (self.y[:, None] + 1) * t) + 0.3 * rng.normal(size=(n, 16))

        def __len__(self):
            return len(self.y)

        def __getitem__(self, i):
            return torch.tensor(self.x[i][None], dtype=torch.float32), self.y[i]


    def data():
        return {
            "train": DataLoader(Waves(600, 0), batch_size=50),
            "val": Waves(200, 1),
            "test": Waves(200, 2),
            "num_classes": 3,
        }


    def empty_test():
        return Waves(100, 0), Waves(50, 1), TensorDataset(torch.zeros(0, 1, 16), torch.zeros(0))


    def bad_labels():
        x = torch.zeros(10, 1, 16)
        return (x, torch.arange(10) - 1), (x, torch.zeros(10)), (x, torch.zeros(10))


    def wrong_shape():
        x = torch.zeros(10, 1, 12)
        return (x, torch.zeros(10)), (x, torch.zeros(10)), (x, torch.zeros(10))


    def raises():
        raise FileNotFoundError("/data/waves.npz")
    '''
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "mywaves.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_data_function_gives_checked_splits(user_module):
    d = load_dataset("mywaves:data")
    assert d.num_classes == 3 and d.name == "mywaves:data"
    assert tuple(d.train.tensors[0].shape) == (600, 1, 16)
    assert d.train.tensors[1].dtype == torch.int64
    assert len(d.val) == len(d.test) == 200


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        ("empty_test", "--data mywaves:empty_test: split 'test' is empty"),
        ("bad_labels", "labels must lie in 0..8 (num_classes 9), found -1..8"),
        ("raises", "--data mywaves:raises: calling it failed: FileNotFoundError: /data/waves"),
        ("nope", "module 'mywaves' has no function 'nope'"),
    ],
)
def test_bad_data_functions_give_one_error_naming_them(user_module, fn, message):
    with pytest.raises(DataError, match=re.escape(message)):
        load_dataset(f"mywaves:{fn}")


def test_labels_beyond_the_model_and_wrong_shapes_are_refused(user_module):
    import mywaves

    net, example = mywaves.model()
    d = load_dataset("mywaves:wrong_shape")
    with pytest.raises(
        DataError, match=r"inputs of shape \(1, 12\), but the model takes \(1, 16\)"
    ):
        check_against_model(d, net, tuple(example.shape))
    x = torch.zeros(6, 1, 16)
    many = splits_from("five", ((x, torch.arange(6)), (x, torch.zeros(6)), (x, torch.zeros(6))))
    with pytest.raises(DataError, match="6 classes, but the model outputs shape"):
        check_against_model(many, net, tuple(example.shape))


def test_splits_accept_loaders_datasets_and_tensor_pairs():
    x, y = torch.randn(20, 2), torch.arange(20) % 4
    d = splits_from(
        "mix", (DataLoader(TensorDataset(x, y), batch_size=7), TensorDataset(x, y), (x, y))
    )
    for split in (d.train, d.val, d.test):
        assert torch.equal(split.tensors[0], x) and torch.equal(split.tensors[1], y)
    assert d.num_classes == 4


def test_register_dataset_by_name():
    @register_dataset("tiny-test-registered")
    def tiny():
        x = torch.randn(8, 3)
        return (x, torch.zeros(8)), (x, torch.ones(8)), (x, torch.zeros(8))

    assert load_dataset("tiny-test-registered").num_classes == 2
    with pytest.raises(ValueError, match="registered twice"):
        register_dataset("tiny-test-registered")(tiny)


def test_a_user_model_and_data_function_explore_with_an_accuracy_axis(user_module, tmp_path):
    """From the CLI, in a subprocess, as a user would run it."""
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "codesign.cli", "explore", "--hw", "mpic",
        "--workload", "mywaves:model", "--data", "mywaves:data",
        "--generations", "2", "--pop-size", "8", "--estimator", "proxy",
        "--finetune-top", "1", "--finetune-steps", "20", "--threads", "1",
        "--results-dir", str(tmp_path / "results"), "--out", str(out),
    ]  # fmt: skip
    env = {**__import__("os").environ, "PYTHONPATH": str(user_module)}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    from codesign.run import RunDir

    front = RunDir(out).load_front()
    assert front.objectives[0].value == "accuracy_loss"
    assert front.fp_accuracy is not None and front.fp_accuracy > 60
    assert any(c.finetuned_accuracy is not None for c in front.candidates)


def test_explore_takes_a_model_and_a_data_function_from_python(user_module, tmp_path):
    import mywaves
    from rich.console import Console

    from codesign.explore import explore

    net, example = mywaves.model()
    res = explore(
        hw="mpic",
        model=(net, example),
        data=mywaves.data,
        generations=1,
        pop_size=8,
        estimator="proxy",
        finetune_top=1,
        finetune_steps=10,
        results_dir=str(tmp_path / "results"),
        out=str(tmp_path / "py-run"),
        console=Console(quiet=True),
    )
    assert res.fp_accuracy is not None
    assert net[0].weight.requires_grad  # the user's object is not trained in place
    torch.manual_seed(0)
    fresh, _ = mywaves.model()
    assert torch.equal(fresh[0].weight, net[0].weight)
