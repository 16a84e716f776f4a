"""Imports the built-in exporters so that they register themselves."""

from codesign.exporters import (  # noqa: F401
    brevitas,
    config,
    hw,
    loopnest,
    onnx_qdq,
    qonnx,
    switchable,
)
