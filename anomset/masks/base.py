"""Mask strategy contract and the placement primitives every strategy shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from anomset.configurable import Configurable
from anomset.context import SampleContext


@dataclass
class MaskResult:
    """A binary mask (uint8 {0,255}) and the parameters that were drawn to make it."""

    mask: np.ndarray
    params: dict[str, Any]


class MaskStrategy(Configurable):
    """Draws where an anomaly goes. Subclasses implement ``__call__``; randomness is the ``rng``."""

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        raise NotImplementedError

    def resolved_params(self) -> dict[str, Any]:
        """Every parameter with defaults filled in; the ``area*`` fields only when calibrated (``area: real``)."""
        from anomset.masks.area import without_default_area  # area.py builds on this module

        return without_default_area(super().resolved_params())


def binarize(mask: np.ndarray) -> np.ndarray:
    """Any mask → uint8 {0, 255}."""
    return np.where(mask > 0, 255, 0).astype(np.uint8)


def open_close(mask: np.ndarray, kernel: int) -> np.ndarray:
    """Opening (drops specks thinner than ``kernel``) then closing (fills pinholes), elliptical kernel."""
    if kernel <= 1:
        return mask
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    return cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_OPEN, element), cv2.MORPH_CLOSE, element)


def random_point_in(region: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A uniformly drawn (x, y) among the non-zero pixels of ``region`` (anywhere if it is empty).

    Draws the k-th non-zero pixel in row-major order without listing every pixel: per-row counts
    find the row, then only that row is searched.
    """
    per_row = np.count_nonzero(region, axis=1)
    total = int(per_row.sum())
    if total == 0:
        h, w = region.shape[:2]
        return int(rng.integers(w)), int(rng.integers(h))
    k = int(rng.integers(total))
    ends = np.cumsum(per_row)
    row = int(np.searchsorted(ends, k, side="right"))
    column = np.flatnonzero(region[row])[k - (int(ends[row]) - int(per_row[row]))]
    return int(column), row


def rotated_rectangle(shape: tuple[int, int], center: tuple[float, float], size: tuple[float, float],
                      angle_deg: float) -> np.ndarray:
    """A filled rotated rectangle (width, height) at ``center``, as a uint8 {0,255} mask."""
    box = cv2.boxPoints(((float(center[0]), float(center[1])), (float(size[0]), float(size[1])),
                         float(angle_deg)))
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(box).astype(np.int32), 255, lineType=cv2.LINE_8)
    return mask


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A float drawn uniformly from a (low, high) pair; equal bounds give that value."""
    low, high = bounds
    return float(low) if low == high else float(rng.uniform(low, high))


def log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A float drawn log-uniformly (aspect ratios: 1/3 and 3 equally likely)."""
    low, high = bounds
    return float(low) if low == high else float(np.exp(rng.uniform(np.log(low), np.log(high))))
