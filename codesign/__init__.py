"""codesign: hardware-aware co-design of quantized neural networks."""

__version__ = "0.1.0"


def explore(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201
    """Run the main job; see `codesign.explore.explore` (imported lazily: torch is heavy)."""
    from codesign.explore import explore as _explore

    return _explore(*args, **kwargs)
