"""Imports the built-in exporters so that they register themselves."""

from codesign.exporters import (  # noqa: F401
    brevitas,
    config,
    loopnest,
    onnx_qdq,
    qonnx,
    switchable,
)
