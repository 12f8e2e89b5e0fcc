"""Source contract: an index of items per class, and a loader for one item."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from anomset.configurable import Configurable
from anomset.sample import GOOD


@dataclass(frozen=True)
class SourceItem:
    """One image of a source. ``key`` is stable across runs and unique within the source."""

    key: str
    class_name: str
    split: str  # "train" or "test", as the source splits its data
    defect_type: str = GOOD

    @property
    def is_normal(self) -> bool:
        return self.defect_type == GOOD


@dataclass
class LoadedItem:
    """An item's pixels at its native size. Optional parts are None / empty when unknown."""

    image: np.ndarray  # uint8 H×W×3 RGB
    mask: np.ndarray | None = None  # uint8 H×W {0,255}; None for normals
    foreground: np.ndarray | None = None  # uint8 H×W {0,255}
    regions: list[np.ndarray] = field(default_factory=list)  # component masks (logical anomalies)


class Source(Configurable):
    """Reads a dataset. ``index`` lists items (it may raise ``SourceError``); ``load`` reads one."""

    # Params that say where the data lives, not what it is: left out of the recipe hash.
    LOCATION_PARAMS: ClassVar[tuple[str, ...]] = ()

    def classes(self) -> list[str]:
        """Class names the source offers, sorted."""
        raise NotImplementedError

    def items(self, class_name: str) -> list[SourceItem]:
        """Every item of the class, in a stable order."""
        raise NotImplementedError

    def load(self, item: SourceItem) -> LoadedItem:
        raise NotImplementedError

    def is_texture(self, class_name: str) -> bool:
        """Textures are all foreground; objects get a foreground mask."""
        return False

    def fingerprint(self) -> str:
        """A short string that changes when the source's data changes (recorded in the manifest)."""
        return ""
