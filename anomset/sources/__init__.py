"""Sources: readers that index a dataset and load its items."""

from anomset.sources import toy
from anomset.sources.base import LoadedItem, Source, SourceItem

__all__ = ["LoadedItem", "Source", "SourceItem", "toy"]
