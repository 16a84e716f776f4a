"""Load a hardware YAML: duplicate-rejecting YAML -> pydantic schema -> frozen domain object."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from codesign.core.errors import HardwareModelError
from codesign.core.yamlio import load_mapping, validate
from codesign.core.yamlio import load_yaml as _load_yaml
from codesign.hw.family import FAMILIES
from codesign.hw.schema import SCHEMA_VERSION


def load_yaml(path: Path) -> Any:
    """Parse a hardware YAML file, rejecting duplicate keys; `HardwareModelError` naming it."""
    return _load_yaml(path, HardwareModelError, "hardware file")


def bundled_hw_dir() -> Path:
    """The folder of the hardware YAMLs that ship inside the codesign package (package data,
    found through `importlib.resources`; a checkout's top-level ``hw_models/`` links to it)."""
    return Path(str(resources.files("codesign") / "hw_models"))


def resolve_hw_path(spec: str | Path) -> Path:
    """A path as given, or a bare name (``mpic``) looked up in the bundled hardware files."""
    p = Path(spec)
    if p.exists() or p.suffix in (".yaml", ".yml") or "/" in str(spec):
        return p
    candidate = bundled_hw_dir() / f"{spec}.yaml"
    return candidate if candidate.is_file() else p


def load_hardware(spec: str | Path) -> Any:
    """Load and validate a hardware model; returns its family's frozen domain object.

    Raises `HardwareModelError` with one message naming the file and the offending field.
    """
    path = resolve_hw_path(spec)
    data = load_mapping(path, HardwareModelError, "hardware file")
    version = data.get("version")
    if version != SCHEMA_VERSION:
        raise HardwareModelError(
            f"{path}: field 'version': expected {SCHEMA_VERSION}, got {version!r}"
        )
    family = data.get("family")
    if not isinstance(family, str) or family not in FAMILIES:
        known = ", ".join(f"'{n}'" for n in FAMILIES.names())
        raise HardwareModelError(
            f"{path}: field 'family': unknown family {family!r}; known: {known}"
        )
    fam = FAMILIES.get(family)
    return fam.build(validate(fam.schema, data, path, HardwareModelError), path)
