"""codesign: hardware-aware co-design of quantized neural networks."""

__version__ = "0.1.0"
