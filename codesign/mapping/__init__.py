"""Mappings of layers onto spatial arrays: the mapspace (`space`) and the mapper (`mapper`)."""
