"""Strict YAML and pydantic helpers: duplicate keys refused, one message naming file and field."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from codesign.core.errors import CodesignError


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


def load_yaml(path: Path, error: type[CodesignError] = CodesignError, what: str = "file") -> Any:
    """Parse a YAML file, rejecting duplicate keys. Raises `error` naming the file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (SafeLoader subclass)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise error(f"{path}{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from None


def load_mapping(
    path: Path, error: type[CodesignError] = CodesignError, what: str = "file"
) -> dict:
    """`load_yaml`, then `error` unless the file's top level is a mapping."""
    data = load_yaml(path, error, what)
    if not isinstance(data, dict):
        raise error(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def validate(schema: Any, data: Any, path: Path, error: type[CodesignError]) -> Any:
    """`schema.model_validate(data)`; `error` with `validation_message` naming `path`."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise error(validation_message(path, exc)) from None


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def validation_message(path: Path, exc: ValidationError) -> str:
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
