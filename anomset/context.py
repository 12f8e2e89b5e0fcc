"""What a synthesizer or mask strategy may know about the sample beyond its own image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ShownDefect:
    """A real defect shown to generators (few-shot protocol): its source key, type, image and mask."""

    key: str
    defect_type: str
    image: np.ndarray  # uint8 H×W×3 RGB, at the output size in a build
    mask: np.ndarray  # uint8 H×W {0,255}, non-empty


class ClassPool(Protocol):
    """Read access to the class's other data, for methods that borrow from it (NSA, GAA...)."""

    def other_normal(self, rng: np.random.Generator) -> np.ndarray:
        """Another normal image of the class, at the output size (uint8 H×W×3)."""
        ...

    def defect_masks(self) -> list[np.ndarray]:
        """Real defect masks of the class that generators may see, at the output size."""
        ...

    def normal_images(self, limit: int | None = None) -> list[np.ndarray]:
        """The class's normals at the output size, at most ``limit`` evenly spaced (fits such as ARS)."""
        ...

    def shown_defects(self) -> list[ShownDefect]:
        """The real defects generators may see (never held-out ones), with a non-empty mask each."""
        ...


class ImagePool:
    """A ``ClassPool`` over images held in memory (for calling synthesizers outside a build)."""

    def __init__(self, normals: list[np.ndarray], defect_masks: list[np.ndarray] | None = None,
                 shown: list[ShownDefect] | None = None) -> None:
        self.normals = normals
        self._shown = shown or []
        # Shown defects are defects generators may see: their masks count unless masks are given.
        self._defect_masks = defect_masks if defect_masks is not None else [d.mask for d in self._shown]

    def other_normal(self, rng: np.random.Generator) -> np.ndarray:
        return self.normals[int(rng.integers(len(self.normals)))]

    def defect_masks(self) -> list[np.ndarray]:
        return self._defect_masks

    def shown_defects(self) -> list[ShownDefect]:
        return self._shown

    def normal_images(self, limit: int | None = None) -> list[np.ndarray]:
        return evenly_spaced(self.normals, limit)


def evenly_spaced(items: list, limit: int | None) -> list:
    """At most ``limit`` of ``items``, spread evenly over the list (all of them when ``limit`` is None)."""
    if limit is None or len(items) <= limit:
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


@dataclass
class SampleContext:
    """Per-sample side information. ``foreground`` is uint8 {0,255}; all 255 for textures.

    ``grayscale``: the class's normal images have R = G = B; synthesizers keep their output so.
    """

    class_name: str
    foreground: np.ndarray
    regions: list[np.ndarray] = field(default_factory=list)
    pool: ClassPool | None = None
    is_texture: bool = False
    grayscale: bool = False

    @classmethod
    def whole_image(cls, shape: tuple[int, int], class_name: str = "test") -> SampleContext:
        """A context with no object knowledge: everything is foreground."""
        return cls(class_name=class_name, foreground=np.full(shape, 255, np.uint8), is_texture=True)
