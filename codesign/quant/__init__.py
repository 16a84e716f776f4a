"""Quantization: fake quantization, configs and `apply_config`, fine-tunes, accuracy proxies."""

from codesign.quant.apply import apply_config
from codesign.quant.config import LayerQuant, QuantConfig, load_config, save_config
from codesign.quant.fakequant import QuantLayer

__all__ = ["LayerQuant", "QuantConfig", "QuantLayer", "apply_config", "load_config", "save_config"]
