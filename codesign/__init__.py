"""codesign: hardware-aware co-design of quantized neural networks."""

from codesign._version import __version__

__all__ = ["__version__", "explore"]


def explore(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """Run the main job; see `codesign.explore.explore` (imported lazily: torch is heavy)."""
    from codesign.explore import explore as _explore

    return _explore(*args, **kwargs)
