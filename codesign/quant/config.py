"""The exported quantization configuration: a documented, versioned file a trainer can apply.

Format ``codesign.quant-config`` version 1 (YAML or JSON, same fields)::

    format: codesign.quant-config
    version: 1
    workload: digits_cnn            # registry name or package.module:function
    hardware: {name: MPIC, file: hw_models/mpic.yaml}
    candidate: {id: 17, run: results/2026..., predicted: {...}}   # free-form provenance
    layers:
      - name: "0"                   # layer name in codesign's LayerGraph
        module: "0"                 # dotted path of the torch module it applies to
        kind: conv
        act_bits: 8                 # bits of the layer's input activations (null = float)
        weight_bits: 4              # one int for every channel, or a list, one per channel
        channels: 16                # output channels (checked against the model)
        mapping: {...}              # hardware mapping of this layer (free-form, documented)
        cost: {...}                 # predicted per-layer costs (free-form)
        fused: ["1", "2"]           # optional: modules folded into the layer (batch-norm,
                                    # activation); its batch-norm outputs 0 on pruned channels
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from codesign.core.errors import ConfigError
from codesign.core.files import write_text_atomic

FORMAT = "codesign.quant-config"
VERSION = 1


class _LayerSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    module: str
    kind: str
    act_bits: int | None = Field(default=None, ge=1, le=16)
    weight_bits: int | list[int]
    channels: int = Field(ge=1)
    mapping: dict[str, Any] = Field(default_factory=dict)
    cost: dict[str, Any] = Field(default_factory=dict)
    fused: list[str] = Field(default_factory=list)


class _ConfigSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["codesign.quant-config"]
    version: Literal[1]
    workload: str
    hardware: dict[str, Any] = Field(default_factory=dict)
    candidate: dict[str, Any] = Field(default_factory=dict)
    layers: list[_LayerSchema]


@dataclass(frozen=True)
class LayerQuant:
    """Quantization of one layer: input activation bits and weight bits per output channel."""

    name: str
    module: str
    kind: str
    act_bits: int | None
    weight_bits: tuple[int, ...]
    mapping: dict[str, Any] = field(default_factory=dict, compare=False)
    cost: dict[str, Any] = field(default_factory=dict, compare=False)
    fused: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuantConfig:
    """A whole-network quantization configuration (what `apply_config` applies)."""

    workload: str
    layers: tuple[LayerQuant, ...]
    hardware: dict[str, Any] = field(default_factory=dict, compare=False)
    candidate: dict[str, Any] = field(default_factory=dict, compare=False)

    def by_module(self) -> dict[str, LayerQuant]:
        """The layers keyed by torch module path."""
        return {lq.module: lq for lq in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """The file representation (per-layer weight bits collapsed to one int when uniform)."""
        layers = []
        for lq in self.layers:
            wb: int | list[int] = list(lq.weight_bits)
            if len(set(lq.weight_bits)) == 1:
                wb = lq.weight_bits[0]
            layers.append(
                {
                    "name": lq.name,
                    "module": lq.module,
                    "kind": lq.kind,
                    "act_bits": lq.act_bits,
                    "weight_bits": wb,
                    "channels": len(lq.weight_bits),
                    "mapping": lq.mapping,
                    "cost": lq.cost,
                    **({"fused": list(lq.fused)} if lq.fused else {}),
                }
            )
        return {
            "format": FORMAT,
            "version": VERSION,
            "workload": self.workload,
            "hardware": self.hardware,
            "candidate": self.candidate,
            "layers": layers,
        }


def config_from_dict(data: Any, source: str = "<config>") -> QuantConfig:
    """Validate a parsed config file; raises `ConfigError` naming `source` and the field."""
    try:
        s = _ConfigSchema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"{source}: field '{loc}': {msg}") from None
    layers = []
    for i, ls in enumerate(s.layers):
        wb = [ls.weight_bits] * ls.channels if isinstance(ls.weight_bits, int) else ls.weight_bits
        if len(wb) != ls.channels:
            raise ConfigError(
                f"{source}: field 'layers.{i}.weight_bits': "
                f"{len(wb)} entries for {ls.channels} channels"
            )
        if any(not 0 <= b <= 16 for b in wb):
            raise ConfigError(f"{source}: field 'layers.{i}.weight_bits': bit-widths must be 0..16")
        layers.append(
            LayerQuant(
                ls.name,
                ls.module,
                ls.kind,
                ls.act_bits,
                tuple(wb),
                ls.mapping,
                ls.cost,
                tuple(ls.fused),
            )
        )
    return QuantConfig(s.workload, tuple(layers), s.hardware, s.candidate)


def save_config(config: QuantConfig, path: str | Path) -> Path:
    """Write `config` as YAML (``.yaml``/``.yml``) or JSON (``.json``); returns the path."""
    path = Path(path)
    data = config.to_dict()
    if path.suffix == ".json":
        write_text_atomic(path, json.dumps(data, indent=2) + "\n")
    elif path.suffix in (".yaml", ".yml"):
        write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))
    else:
        raise ConfigError(f"{path}: unknown config extension (use .yaml, .yml or .json)")
    return path


def load_config(path: str | Path) -> QuantConfig:
    """Read and validate a config file written by `save_config` or by hand."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot parse: {str(exc).splitlines()[0]}") from None
    return config_from_dict(data, str(path))
