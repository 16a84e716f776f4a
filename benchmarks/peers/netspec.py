"""The networks and data a peer's runner receives, as data: no pickled code crosses over.

The benchmark writes a JSON list of layers (`spec_of`), the full-precision state dict
(``torch.save``, loaded with ``weights_only=True``) and the splits as ``.npy`` arrays; each
runner rebuilds the network from the list (`build`) with torch alone. This file is copied
nowhere: the runners import it from beside them and need only torch and numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

# the layer types a spec may hold, and the constructor arguments each takes
LAYERS: dict[str, tuple[type, tuple[str, ...]]] = {
    "Conv1d": (
        nn.Conv1d,
        ("in_channels", "out_channels", "kernel_size", "stride", "padding", "groups", "bias"),
    ),
    "Conv2d": (
        nn.Conv2d,
        ("in_channels", "out_channels", "kernel_size", "stride", "padding", "groups", "bias"),
    ),
    "Linear": (nn.Linear, ("in_features", "out_features", "bias")),
    "BatchNorm1d": (nn.BatchNorm1d, ("num_features",)),
    "BatchNorm2d": (nn.BatchNorm2d, ("num_features",)),
    "ReLU": (nn.ReLU, ()),
    "Flatten": (nn.Flatten, ()),
}


def spec_of(model: nn.Module) -> list[dict[str, Any]]:
    """The layer list of an `nn.Sequential` made of `LAYERS`; ValueError otherwise."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"peers take nn.Sequential networks, not {type(model).__name__}")
    out = []
    for name, m in model.named_children():
        kind = type(m).__name__
        if kind not in LAYERS:
            raise ValueError(f"layer {name}: {kind} is not among {sorted(LAYERS)}")
        args = {}
        for a in LAYERS[kind][1]:
            v = getattr(m, a)
            if a == "bias":
                v = v is not None
            args[a] = list(v) if isinstance(v, tuple) else v
        out.append({"name": name, "type": kind, "args": args})
    return out


def build(spec: list[dict[str, Any]]) -> nn.Sequential:
    """The network of a `spec_of` list (unknown types or arguments: ValueError)."""
    layers = []
    for i, layer in enumerate(spec):
        kind = layer.get("type")
        if kind not in LAYERS:
            raise ValueError(f"layer {i}: unknown type {kind!r}")
        cls, names = LAYERS[kind]
        args = layer.get("args", {})
        if set(args) - set(names):
            raise ValueError(f"layer {i}: unknown arguments {sorted(set(args) - set(names))}")
        layers.append(cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}))
    return nn.Sequential(*layers)


def load_inputs(cfg: dict[str, Any]) -> tuple[nn.Sequential, dict[str, torch.Tensor]]:
    """(the network with its full-precision weights, the arrays) of a runner's input."""
    model = build(cfg["spec"])
    model.load_state_dict(torch.load(cfg["state"], weights_only=True))
    arrays = {k: torch.from_numpy(np.load(v, allow_pickle=False)) for k, v in cfg["arrays"].items()}
    return model, arrays


def quantizable(spec: list[dict[str, Any]]) -> list[str]:
    """Names of the conv / linear layers, in order: the layers a configuration sets."""
    return [layer["name"] for layer in spec if layer["type"] in ("Conv1d", "Conv2d", "Linear")]


def bits_holding(t: torch.Tensor, bits: list[int]) -> int:
    """The fewest of `bits` whose 2^b levels hold the distinct values of `t` (a quantized
    tensor's width, read off its values; 32 when none does)."""
    n = int(torch.unique(t).numel())
    return next((b for b in sorted(bits) if n <= 2**b), 32)


def input_bits(
    model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor, a_bits: list[int]
) -> dict[str, int]:
    """Per named module of `model`, the bits its input holds (`bits_holding`) when `model`
    runs `x`: read off the distinct values each input takes, through forward pre-hooks."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name, m in modules.items():

        def hook(_m, args, name=name):  # noqa: ANN001, ANN202
            seen[name] = args[0].detach()

        handles.append(m.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model.eval()
            model(x)
    finally:
        for h in handles:
            h.remove()
    return {name: bits_holding(seen[name], a_bits) for name in modules}
