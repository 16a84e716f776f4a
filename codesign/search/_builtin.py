"""Imports the built-in strategies so that they register themselves."""

from codesign.search import csq, dnas, nsga2, random  # noqa: F401
