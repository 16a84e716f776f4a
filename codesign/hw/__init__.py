"""Hardware models: YAML files under hw_models/ loaded into frozen, validated objects."""

from codesign.hw.load import load_hardware
from codesign.hw.model import McuHardware, SpatialHardware

__all__ = ["McuHardware", "SpatialHardware", "load_hardware"]
