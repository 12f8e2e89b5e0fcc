"""What a synthesizer or mask strategy may know about the sample beyond its own image."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


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


class ImagePool:
    """A ``ClassPool`` over images held in memory (for calling synthesizers outside a build)."""

    def __init__(self, normals: list[np.ndarray], defect_masks: list[np.ndarray] | None = None) -> None:
        self.normals = normals
        self._defect_masks = defect_masks or []

    def other_normal(self, rng: np.random.Generator) -> np.ndarray:
        return self.normals[int(rng.integers(len(self.normals)))]

    def defect_masks(self) -> list[np.ndarray]:
        return self._defect_masks

    def normal_images(self, limit: int | None = None) -> list[np.ndarray]:
        return evenly_spaced(self.normals, limit)


def evenly_spaced(items: list, limit: int | None) -> list:
    """At most ``limit`` of ``items``, spread evenly over the list (all of them when ``limit`` is None)."""
    if limit is None or len(items) <= limit:
        return list(items)
    return [items[i * len(items) // limit] for i in range(limit)]


@dataclass
class SampleContext:
    """Per-sample side information. ``foreground`` is uint8 {0,255}; all 255 for textures."""

    class_name: str
    foreground: np.ndarray
    regions: list[np.ndarray] = field(default_factory=list)
    pool: ClassPool | None = None
    is_texture: bool = False

    @classmethod
    def whole_image(cls, shape: tuple[int, int], class_name: str = "test") -> SampleContext:
        """A context with no object knowledge: everything is foreground."""
        return cls(class_name=class_name, foreground=np.full(shape, 255, np.uint8), is_texture=True)
