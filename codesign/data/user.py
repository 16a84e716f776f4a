"""Your own data: a function that returns train, validation and test splits.

Give it as ``--data package.module:function`` (or ``codesign.explore(data=function)``, or
register it by name with `codesign.data.register_dataset`). The contract:

- The function takes no arguments and returns ``(train, val, test)`` or a dict with the keys
  ``train``, ``val``, ``test`` and optionally ``num_classes``.
- Each split is a torch ``Dataset`` whose items are ``(input, label)`` pairs, a ``DataLoader``
  over one, or a pair of tensors ``(inputs, labels)``. Splits are read once into memory.
- Inputs are float tensors of the model's input shape without the batch dimension.
- Labels are integer class indices ``0 .. num_classes - 1`` (a tensor, a numpy integer or an
  int). ``num_classes`` is the dict's value when given, else the largest label + 1 over the
  splits; the model's output must have at least that many logits.
- The validation split drives the search's estimates and in-loop decisions, the test split only
  the figures a run reports: keep them disjoint from the training split.

Fine-tunes on Dask workers import the function again, so it must be importable there (a module
on the workers' path); a function object passed from Python runs in-process only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from codesign.core.errors import DataError
from codesign.core.imports import import_user_module

_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
SPLITS = ("train", "val", "test")


def is_function_spec(spec: str | None) -> bool:
    """True when `spec` reads as ``package.module:function``."""
    return spec is not None and bool(_SPEC.match(spec))


def import_function(spec: str) -> Callable[[], Any]:
    """The function named by ``package.module:function``; `DataError` naming it otherwise."""
    mod_name, _, fn_name = spec.partition(":")
    try:
        mod = import_user_module(mod_name)
    except Exception as exc:  # ImportError, or the module's own code failing
        raise DataError(f"--data {spec}: cannot import module '{mod_name}': {exc}") from None
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise DataError(f"--data {spec}: module '{mod_name}' has no function '{fn_name}'")
    return fn


def _materialise(name: str, split: str, obj: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs float32, labels int64) of one split."""
    where = f"--data {name}: split '{split}'"
    if isinstance(obj, tuple | list) and len(obj) == 2 and all(torch.is_tensor(t) for t in obj):
        xs, ys = obj
    else:
        if isinstance(obj, DataLoader):
            items: Iterable[Any] = obj
            batched = True
        elif isinstance(obj, Dataset) or hasattr(obj, "__getitem__"):
            items = (obj[i] for i in range(len(obj)))
            batched = False
        else:
            raise DataError(
                f"{where} is a {type(obj).__name__}: expected a torch Dataset, a DataLoader or "
                "a pair (inputs, labels) of tensors"
            )
        xl, yl = [], []
        try:
            for item in items:
                if not isinstance(item, tuple | list) or len(item) < 2:
                    raise DataError(f"{where}: items must be (input, label) pairs")
                x, y = item[0], item[1]
                x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
                y = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y)
                xl.append(x if batched else x.unsqueeze(0))
                yl.append(y.reshape(-1))
        except DataError:
            raise
        except Exception as exc:  # the user's dataset code
            raise DataError(f"{where}: reading it failed: {type(exc).__name__}: {exc}") from None
        if not xl:
            raise DataError(f"{where} is empty")
        try:
            xs, ys = torch.cat(xl), torch.cat(yl)
        except RuntimeError as exc:
            raise DataError(f"{where}: inputs of different shapes ({exc})") from None
    if len(xs) == 0:
        raise DataError(f"{where} is empty")
    if len(xs) != len(ys):
        raise DataError(f"{where}: {len(xs)} inputs but {len(ys)} labels")
    xs = xs.float()
    if not torch.isfinite(xs).all():
        bad = int((~torch.isfinite(xs)).sum())
        raise DataError(f"{where}: {bad} input values are NaN or infinite")
    if ys.dtype.is_floating_point and not torch.isfinite(ys).all():
        raise DataError(f"{where}: labels are NaN or infinite")
    if ys.dtype.is_floating_point and not torch.equal(ys, ys.round()):
        raise DataError(f"{where}: labels must be integer class indices, got fractional values")
    return xs, ys.long()


def splits_from(name: str, out: Any) -> Any:
    """`DataSplits` from what a data function returned; `DataError` naming `name` otherwise."""
    from codesign.data import DataSplits

    num_classes = None
    if isinstance(out, dict):
        missing = [s for s in SPLITS if s not in out]
        if missing:
            raise DataError(f"--data {name}: the returned dict has no {', '.join(missing)}")
        num_classes = out.get("num_classes")
        parts = [out[s] for s in SPLITS]
    elif isinstance(out, tuple | list) and len(out) == 3:
        parts = list(out)
    else:
        raise DataError(
            f"--data {name}: returned {type(out).__name__}; expected (train, val, test) or a dict "
            "with train, val, test (and optionally num_classes)"
        )
    tensors = [_materialise(name, s, p) for s, p in zip(SPLITS, parts)]
    shapes = {s: tuple(x.shape[1:]) for s, (x, _) in zip(SPLITS, tensors)}
    if len(set(shapes.values())) != 1:
        raise DataError(f"--data {name}: the splits' inputs differ in shape: {shapes}")
    top = max(int(y.max()) for _, y in tensors)
    low = min(int(y.min()) for _, y in tensors)
    if num_classes is None:
        num_classes = top + 1
    if low < 0 or top >= int(num_classes):
        raise DataError(
            f"--data {name}: labels must lie in 0..{int(num_classes) - 1} (num_classes "
            f"{int(num_classes)}), found {low}..{top}"
        )
    ds = [TensorDataset(x, y) for x, y in tensors]
    return DataSplits(name, ds[0], ds[1], ds[2], int(num_classes))


def load_function(name: str, fn: Callable[[], Any] | None = None) -> Any:
    """Call the data function `fn` (imported from `name` when not given) and check its splits."""
    fn = fn or import_function(name)
    try:
        out = fn()
    except DataError:
        raise
    except Exception as exc:  # the user's code: one clear error naming it
        first = (str(exc).splitlines() or [""])[0]
        raise DataError(
            f"--data {name}: calling it failed: {type(exc).__name__}: {first}"
        ) from None
    return splits_from(name, out)


def check_against_model(data: Any, model: torch.nn.Module, input_shape: tuple[int, ...]) -> None:
    """`DataError` naming the data when its inputs do not fit the model or its labels exceed
    the model's outputs."""
    got = tuple(data.train.tensors[0].shape[1:])
    want = tuple(input_shape[1:])
    if got != want:
        raise DataError(
            f"--data {data.name}: inputs of shape {got}, but the model takes {want} (without "
            "the batch dimension)"
        )
    with torch.no_grad():
        out = model.eval()(data.train.tensors[0][:2])
    if out.dim() != 2 or out.shape[1] < data.num_classes:
        raise DataError(
            f"--data {data.name}: {data.num_classes} classes, but the model outputs shape "
            f"{tuple(out.shape)} for a batch of 2"
        )
