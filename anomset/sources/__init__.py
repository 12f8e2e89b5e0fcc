"""Sources: readers that index a dataset and load its items."""

from anomset.sources import hf, toy  # noqa: F401 (hf registers the "hf" source)
from anomset.sources.base import LoadedItem, Source, SourceItem

__all__ = ["LoadedItem", "Source", "SourceItem", "toy"]
