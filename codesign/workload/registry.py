"""The one registry of named workloads; user models loaded from ``package.module:function``."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from codesign.core.errors import WorkloadError
from codesign.core.imports import import_user_module
from codesign.core.registry import Registry


@dataclass(frozen=True)
class Workload:
    """A network with the input it is traced on.

    `build()` returns a freshly initialised model; `input_shape` includes the batch dimension
    (1); `dataset` names the built-in dataset that trains and scores it (None when no data
    ships with codesign); `num_classes` is the size of its output.
    """

    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    description: str = ""
    dataset: str | None = None
    num_classes: int | None = None
    pretrained: bool = False  # build() returns trained weights (an ONNX file): never retrain

    def example_input(self) -> torch.Tensor:
        """A deterministic example input of `input_shape`, for tracing."""
        gen = torch.Generator().manual_seed(0)
        return torch.randn(self.input_shape, generator=gen)


# the bundled networks (codesign/workloads/) register on the first lookup, so this module
# never imports them (they import it)
WORKLOADS: Registry[Workload] = Registry("workload", builtin="codesign.workloads")
_PYTHON_MODELS = itertools.count()


def _traceable(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    """`fn` whose model comes out with its attention modules and activation matmuls rewritten
    (`codesign.workload.attention.make_traceable`), so that extraction, quantization and
    training all see the same modules."""
    from codesign.workload.attention import make_traceable

    return lambda: make_traceable(fn())


def register_workload(
    name: str,
    *,
    input_shape: tuple[int, ...],
    description: str = "",
    dataset: str | None = None,
    num_classes: int | None = None,
) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Decorator: register a function that builds a model under `name`. Returns the function."""

    def deco(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        WORKLOADS.add(
            name,
            Workload(name, _traceable(fn), tuple(input_shape), description, dataset, num_classes),
        )
        return fn

    return deco


def register_python_model(
    model: nn.Module | tuple[nn.Module, torch.Tensor], input_shape: Any = None
) -> str:
    """Register a model object given from Python (``codesign.explore(model=...)``) under a
    generated name; returns the name. `WorkloadError` without an input shape."""
    example = None
    if isinstance(model, tuple):
        model, example = model
    if example is not None:
        shape = tuple(example.shape)
    elif input_shape is not None:
        dims = input_shape.split(",") if isinstance(input_shape, str) else input_shape
        shape = tuple(int(x) for x in dims)
    else:
        raise WorkloadError("model=: give input_shape=(1, C, H, W) or model=(module, example)")
    name = f"python-model-{type(model).__name__}-{next(_PYTHON_MODELS)}"
    WORKLOADS.add(
        name,
        Workload(name, _traceable(lambda: copy.deepcopy(model)), shape, "model given from Python"),
    )
    return name


def _onnx_workload(spec: str) -> Workload:
    """A workload read from an ONNX file (`codesign.workload.onnx_in`), with its weights."""
    from pathlib import Path

    from codesign.workload.onnx_in import load_onnx_workload

    if not Path(spec).exists():
        raise WorkloadError(f"--workload {spec}: no such file")
    model, shape = load_onnx_workload(spec)
    return Workload(
        name=spec,
        build=lambda: copy.deepcopy(model),
        input_shape=shape,
        description="ONNX model",
        pretrained=True,
    )


def list_workloads() -> list[Workload]:
    """Every registered workload, sorted by name."""
    return [WORKLOADS.get(k) for k in WORKLOADS.names()]


def get_workload(spec: str, input_shape: tuple[int, ...] | None = None) -> Workload:
    """Resolve a workload by registered name or by ``package.module:function``.

    A user function returns an ``nn.Module`` (then `input_shape` is required) or a tuple
    ``(module, example_input)``. Raises `WorkloadError` with the reason when it cannot.
    """
    if spec.lower().endswith(".onnx"):
        return _onnx_workload(spec)
    if ":" not in spec:
        if spec not in WORKLOADS:
            known = ", ".join(WORKLOADS.names())
            raise WorkloadError(
                f"unknown workload '{spec}'; known: {known}, or give package.module:function"
            )
        return _fixed_shape(WORKLOADS.get(spec), input_shape)
    mod_name, _, fn_name = spec.partition(":")
    try:
        mod = import_user_module(mod_name)
    except ImportError as exc:
        raise WorkloadError(f"--workload {spec}: cannot import module '{mod_name}': {exc}") from exc
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise WorkloadError(f"--workload {spec}: module '{mod_name}' has no function '{fn_name}'")
    built, example = _call_user(spec, fn, fn_name)
    if example is not None:
        shape = tuple(example.shape)
        if input_shape is not None and tuple(input_shape) != shape:
            raise WorkloadError(
                f"--input-shape {_shown(input_shape)}: '{fn_name}()' returns its own example "
                f"input of shape {_shown(shape)}; drop --input-shape or return the model alone"
            )
    elif input_shape is not None:
        shape = tuple(input_shape)
    else:
        raise WorkloadError(
            f"--workload {spec}: give --input-shape (e.g. 1,3,32,32) or return "
            "(model, example_input) from the function"
        )
    from codesign.workload.attention import make_traceable

    try:
        make_traceable(built)
    except WorkloadError as exc:
        raise WorkloadError(f"--workload {spec}: {exc}") from None

    def build() -> nn.Module:
        # called again each time, so a run that seeds torch first (`--seed`) gets the same
        # initial weights in every process, as for a bundled workload
        return make_traceable(_call_user(spec, fn, fn_name)[0])

    return Workload(name=spec, build=build, input_shape=shape, description="user model")


def _shown(shape: tuple[int, ...]) -> str:
    return ",".join(map(str, shape))


def _fixed_shape(wl: Workload, input_shape: tuple[int, ...] | None) -> Workload:
    """`wl`, a registered workload traced on its own input; `WorkloadError` when `input_shape`
    asks for another (it would be ignored: a bundled network has one input shape)."""
    if input_shape is not None and tuple(input_shape) != wl.input_shape:
        raise WorkloadError(
            f"--input-shape {_shown(input_shape)}: workload '{wl.name}' takes input "
            f"{_shown(wl.input_shape)} and no other; --input-shape is for a user model "
            "(package.module:function)"
        )
    return wl


def _call_user(
    spec: str, fn: Callable[[], Any], fn_name: str
) -> tuple[nn.Module, torch.Tensor | None]:
    """The module (and example input, or None) the user's function returns; `WorkloadError`
    naming the function when it fails or returns something else."""
    try:
        built = fn()
    except Exception as exc:  # the user's code: any failure is one clear error naming it
        first = (str(exc).splitlines() or [""])[0]
        raise WorkloadError(
            f"--workload {spec}: calling '{fn_name}()' failed: {type(exc).__name__}: {first}"
        ) from None
    example = None
    if isinstance(built, tuple) and len(built) == 2:
        built, example = built
    if not isinstance(built, nn.Module):
        raise WorkloadError(
            f"--workload {spec}: '{fn_name}()' returned {type(built).__name__}, expected an "
            "nn.Module or (nn.Module, example_input)"
        )
    return built, example
