"""Apply a quantization configuration to a torch model (for the user's own training loop)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path

from torch import nn

from codesign.core.errors import ConfigError
from codesign.quant.config import LayerQuant, QuantConfig, load_config
from codesign.quant.fakequant import (
    WEIGHTED_MODULES,
    PrunedNorm,
    QuantLayer,
    QuantMatMul,
    quant_layers,
)
from codesign.workload.attention import MatMul


def _set_submodule(root: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, new)


def apply_config(
    model: nn.Module,
    config: QuantConfig | Mapping[str, LayerQuant] | str | Path,
    inplace: bool = False,
) -> nn.Module:
    """Return `model` with every layer named in `config` replaced by a fake-quantized `QuantLayer`
    (a `MatMul` of two activations by a `QuantMatMul`: both operands at the layer's
    activation bits).

    `config` is a `QuantConfig`, a mapping from module path to `LayerQuant`, or the path of an
    exported config file. Layers the config does not name stay at full precision. The original
    model is left untouched unless `inplace`. On a model that already holds `QuantLayer`s the
    precision is switched in place (no rebuild; weights kept; layers the config does not name
    go back to full precision), so one model serves every candidate of a search. Activation
    step sizes initialise on the first forward pass (run a calibration batch before training
    or evaluating). Raises `ConfigError` when a named module is missing, is not conv / linear,
    or has another channel count. The batch-norm among a layer's `fused` modules is wrapped so
    that its pruned (0-bit) channels come out exactly 0.
    """
    if isinstance(config, (str, Path)):
        config = load_config(config)
    layers = config.by_module() if isinstance(config, QuantConfig) else dict(config)
    out = model if inplace else copy.deepcopy(model)
    for path, existing in quant_layers(out).items():
        if path not in layers:
            existing.set_bits(None, None)
    for path, mm in out.named_modules():
        if isinstance(mm, QuantMatMul) and path not in layers:
            mm.set_bits(None)
    for path, lq in layers.items():
        try:
            m = out.get_submodule(path)
        except AttributeError:
            raise ConfigError(f"layer '{lq.name}': model has no module '{path}'") from None
        existing = m if isinstance(m, (QuantLayer, QuantMatMul)) else None
        if existing is not None:
            m = m.inner
        if isinstance(m, MatMul):  # both operands at the activation bits, no weights
            if existing is None:
                existing = QuantMatMul(m, lq.act_bits)
                _set_submodule(out, path, existing)
            existing.set_bits(lq.act_bits)
            continue
        if not isinstance(m, WEIGHTED_MODULES):
            raise ConfigError(
                f"layer '{lq.name}': module '{path}' is {type(m).__name__}, not conv / linear"
            )
        k = m.weight.shape[1 if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)) else 0]
        if len(lq.weight_bits) != k:
            raise ConfigError(
                f"layer '{lq.name}': config has {len(lq.weight_bits)} channels, "
                f"module '{path}' has {k}"
            )
        wb = None if all(b >= 32 for b in lq.weight_bits) else list(lq.weight_bits)
        if existing is not None:
            existing.set_bits(lq.act_bits, wb)
        else:
            existing = QuantLayer(m, lq.act_bits, wb)
            _set_submodule(out, path, existing)
        for fpath in lq.fused:  # the batch-norm after the layer zeroes its pruned channels
            try:
                norm = out.get_submodule(fpath)
            except AttributeError:
                raise ConfigError(f"layer '{lq.name}': model has no module '{fpath}'") from None
            if isinstance(norm, PrunedNorm):
                norm.attach(existing)
            elif isinstance(norm, nn.modules.batchnorm._BatchNorm):
                _set_submodule(out, fpath, PrunedNorm(norm, existing))
    return out
