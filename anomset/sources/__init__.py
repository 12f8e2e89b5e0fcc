"""Sources: readers that index a dataset and load its items."""

from anomset.sources import folder, hf, ksdd2, mvtec_ad, mvtec_loco, toy, visa
from anomset.sources.base import LoadedItem, Source, SourceItem

__all__ = ["LoadedItem", "Source", "SourceItem", "folder", "hf", "ksdd2", "mvtec_ad", "mvtec_loco", "toy", "visa"]
