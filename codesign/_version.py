"""The package version, in one place (read by `codesign.__version__` and the run files)."""

__version__ = "0.1.0"
