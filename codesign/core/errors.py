"""Errors raised on bad user input. Each carries one message naming the file and the field."""

from __future__ import annotations


class CodesignError(Exception):
    """Base class of every error codesign reports to a user as one clear line (no traceback)."""


class HardwareModelError(CodesignError):
    """A hardware YAML file is missing, malformed, or fails validation."""


class WorkloadError(CodesignError):
    """A workload cannot be loaded or extracted (unknown name, bad import path, bad model)."""


class UnsupportedOperationError(WorkloadError):
    """The traced model contains an operation codesign cannot represent or price."""


class ConfigError(CodesignError):
    """A quantization configuration or an exported config file is invalid."""


class DataError(CodesignError):
    """A data path is missing or a dataset file is malformed."""


class RunError(CodesignError):
    """A run directory is missing or incomplete."""
