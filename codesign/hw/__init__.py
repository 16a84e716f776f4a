"""Hardware models: YAML files loaded into frozen, validated objects of their family
(`codesign/families/`)."""

from codesign.hw.load import load_hardware

__all__ = ["load_hardware"]
