"""The sample contract shared by sources, synthesizers, the shard writer and every later stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

GOOD = "good"
"""defect_type of normal samples."""


@dataclass
class Sample:
    """One image–mask pair. ``image`` uint8 H×W×3 RGB, ``mask`` uint8 H×W in {0, 255}."""

    image: np.ndarray
    mask: np.ndarray
    label: int
    meta: SampleMeta

    def validate(self) -> None:
        """Raise ``ValueError`` if the arrays break the contract (a programming error, not user input)."""
        h, w = self.mask.shape[:2]
        if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape != (h, w, 3):
            raise ValueError(f"image must be uint8 {h}x{w}x3, got {self.image.dtype} {self.image.shape}")
        if self.mask.dtype != np.uint8 or self.mask.ndim != 2:
            raise ValueError(f"mask must be uint8 HxW, got {self.mask.dtype} {self.mask.shape}")
        if self.label not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {self.label}")


@dataclass
class SampleMeta:
    """The per-sample json. Fixed schema, no nulls: absent values use "", -1 or empty containers."""

    key: str
    class_name: str
    split: str
    defect_type: str
    origin: str  # "normal", "real" or "synthetic"
    generator: str  # synthesizer name; "" for samples copied from the source
    generator_params: dict[str, Any]
    mask_strategy: str
    mask_params: dict[str, Any]
    source_key: str
    seed: int
    mask_area: int
    bbox: list[int]  # [x0, y0, x1, y1], exclusive end; [0, 0, 0, 0] for an empty mask
    cluster: str = ""
    ars_score: float = -1.0
    redraws: int = 0  # tries beyond the first, over every normal image tried
    planned_source_key: str = ""  # the planned source; ``source_key`` differs when another normal was used
    data_hash: str = ""  # the dataset's identity: unchanged by metadata (name, version, card text)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The json member's content; ``class_name`` is written as ``class``."""
        data = asdict(self)
        data["class"] = data.pop("class_name")
        return data


def generator_label(generator: str, origin: str) -> str:
    """The name a sample is counted under (manifest, card, inspect): its synthesizer, else its origin."""
    return generator or origin or "unknown"


def mask_stats(mask: np.ndarray) -> tuple[int, list[int]]:
    """Foreground pixel count and exclusive bounding box ``[x0, y0, x1, y1]`` of a uint8 mask."""
    area = cv2.countNonZero(mask)
    if area == 0:
        return 0, [0, 0, 0, 0]
    x, y, w, h = cv2.boundingRect(mask)
    return int(area), [int(x), int(y), int(x + w), int(y + h)]
