"""One registry class for every extension point: workloads, datasets, hardware families,
estimators, strategies and exporters each have one `Registry`, filled by a decorator.

A registry may name a module that registers the built-in entries; it is imported on the first
lookup, so the import graph stays one way (the registry never imports its implementations at
import time).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from codesign.core.errors import CodesignError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind by name. `register(name)` is a decorator; `get` raises one
    `CodesignError` that lists the known names."""

    def __init__(self, kind: str, builtin: str | None = None) -> None:
        self.kind = kind
        self._builtin = builtin
        self._entries: dict[str, T] = {}
        self._loaded = builtin is None

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self._builtin)  # type: ignore[arg-type]

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under `name` (twice is an error)."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register `obj` under `name`; `ValueError` when the name is taken."""
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = obj

    def get(self, name: str, where: str = "") -> T:
        """The entry `name`; `CodesignError` naming `where` (a flag or field) and the choices."""
        self._load()
        if name not in self._entries:
            prefix = f"{where}: " if where else ""
            raise CodesignError(
                f"{prefix}unknown {self.kind} '{name}'; known: {', '.join(self.names())}"
            )
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
