"""Load a hardware YAML: duplicate-rejecting YAML -> pydantic schema -> frozen domain object."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from codesign.core.errors import HardwareModelError
from codesign.hw.model import McuHardware, MemoryLevel, SpatialHardware
from codesign.hw.schema import OPERANDS, SCHEMA_VERSION, McuSchema, SpatialSchema

HW_DIR = Path(__file__).resolve().parents[2] / "hw_models"


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping with the same key twice."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            line = key_node.start_mark.line + 1
            first = seen[key].start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (line {line}; first on line {first})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file, rejecting duplicate keys. Raises `HardwareModelError` naming the file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise HardwareModelError(f"{path}: no such hardware file") from None
    except OSError as exc:
        raise HardwareModelError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise HardwareModelError(f"{path}{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise HardwareModelError(f"{path}: invalid YAML: {exc}") from None


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def _validation_message(path: Path, exc: ValidationError) -> str:
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = _field(err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        missing = [_field(e["loc"]).rpartition(".")[2] for e in errors if e["type"] == "missing"]
        close = difflib.get_close_matches(str(err["loc"][-1]), missing, n=1, cutoff=0.6)
        msg = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
    elif err["type"] == "missing":
        msg = "required field is missing"
    m = re.match(r"^([\w.]+): (.*)$", msg)
    if m and err["type"] == "value_error":  # validator messages start with the sub-field
        loc = ".".join(p for p in (loc, m.group(1)) if p)
        msg = m.group(2)
    more = f" (and {len(exc.errors()) - 1} more problems)" if len(exc.errors()) > 1 else ""
    where = f"field '{loc}'" if loc else "top level"
    return f"{path}: {where}: {msg}{more}"


def resolve_hw_path(spec: str | Path) -> Path:
    """A path as given, or a bare name (``mpic``) looked up in the bundled ``hw_models/``."""
    p = Path(spec)
    if p.exists() or p.suffix in (".yaml", ".yml") or "/" in str(spec):
        return p
    candidate = HW_DIR / f"{spec}.yaml"
    return candidate if candidate.exists() else p


def load_hardware(spec: str | Path) -> McuHardware | SpatialHardware:
    """Load and validate a hardware model; returns the frozen domain object.

    Raises `HardwareModelError` with one message naming the file and the offending field.
    """
    path = resolve_hw_path(spec)
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise HardwareModelError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    version = data.get("version")
    if version != SCHEMA_VERSION:
        raise HardwareModelError(
            f"{path}: field 'version': expected {SCHEMA_VERSION}, got {version!r}"
        )
    family = data.get("family")
    if family == "spatial":
        return _load_spatial(path, data)
    if family != "mcu":
        raise HardwareModelError(
            f"{path}: field 'family': unknown family {family!r}; known: 'mcu', 'spatial'"
        )
    try:
        s = McuSchema.model_validate(data)
    except ValidationError as exc:
        raise HardwareModelError(_validation_message(path, exc)) from None
    act = tuple(s.bits.activation)
    wts = tuple(s.bits.weight)
    table = tuple(tuple(0.0 if w == 0 else float(s.macs_per_cycle[a][w]) for w in wts) for a in act)
    return McuHardware(
        name=s.name,
        clock_hz=s.clock_hz,
        power_w=s.power_mw * 1e-3,
        l1_bytes=s.memory.l1_bytes,
        l2_bytes=s.memory.l2_bytes,
        act_bits=act,
        weight_bits=wts,
        macs_per_cycle=table,
        other_ops_per_cycle=s.other_ops_per_cycle,
        source=str(path),
        description=s.description,
    )


def _load_spatial(path: Path, data: dict) -> SpatialHardware:
    try:
        s = SpatialSchema.model_validate(data)
    except ValidationError as exc:
        raise HardwareModelError(_validation_message(path, exc)) from None
    act, wts = tuple(s.bits.activation), tuple(s.bits.weight)
    mems = []
    for m in s.memories:
        shared = set(m.capacity_bits) == {"shared"}
        caps = (
            (float(m.capacity_bits["shared"]),) * 3
            if shared
            else tuple(float(m.capacity_bits.get(op, 0.0)) for op in OPERANDS)
        )
        mems.append(
            MemoryLevel(
                m.name,
                m.per_pe,
                caps,
                shared,
                m.access_pj_per_bit,
                m.bandwidth_bits_per_cycle,
                tuple(op in m.bypass for op in OPERANDS),  # type: ignore[arg-type]
                tuple(op in m.holds for op in OPERANDS),  # type: ignore[arg-type]
            )
        )
    return SpatialHardware(
        name=s.name,
        clock_hz=s.clock_hz,
        rows=s.pe_array.rows,
        cols=s.pe_array.cols,
        act_bits=act,
        weight_bits=wts,
        psum_bits=s.psum_bits,
        mac_energy_pj=tuple(tuple(float(s.mac.energy_pj[a][w]) for w in wts) for a in act),
        macs_per_pe_per_cycle=tuple(
            tuple(float(s.mac.per_pe_per_cycle[a][w]) for w in wts) for a in act
        ),
        memories=tuple(mems),
        dataflows=tuple(s.dataflows),
        other_ops_per_cycle=s.other_ops_per_cycle,
        other_op_pj=s.other_op_pj,
        input_registers=s.mac.input_registers,
        source=str(path),
        description=s.description,
    )
