"""Imports the built-in strategies so that they register themselves."""

from codesign.search import csq, dnas, hawq, nsga2, random  # noqa: F401
