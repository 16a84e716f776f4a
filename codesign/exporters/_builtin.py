"""Imports the built-in exporters so that they register themselves."""

from codesign.exporters import brevitas, config, loopnest, onnx_qdq, qonnx  # noqa: F401
