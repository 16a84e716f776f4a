"""The registry of search strategies (`--strategy`). Built-ins register in `_builtin`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codesign.core.registry import Registry

STRATEGIES: Registry[Callable[..., Any]] = Registry(
    "search strategy", builtin="codesign.search._builtin"
)


def register_strategy(name: str) -> Callable[[Any], Any]:
    """Decorator: register a strategy class. A run builds it with
    ``cls.from_context(ctx, config)`` (the stages' `Context` and the run's `ExploreConfig`);
    the instance's `granularity` names the genome it searches (see `search.space.make_space`)."""
    return STRATEGIES.register(name)
