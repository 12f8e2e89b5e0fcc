"""The built-in toy source: procedural normals and independently rendered real defects."""

from anomset.sources.toy.source import ToySource

__all__ = ["ToySource"]
