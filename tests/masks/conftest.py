"""Tiny synthetic scenes shared by the mask tests: an object, its parts, a pool of defect masks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from anomset.context import SampleContext

SHAPE = (64, 64)


class FakePool:
    """A ``context.ClassPool`` with fixed defect masks and a random-noise 'other normal'."""

    def __init__(self, masks: list[np.ndarray]) -> None:
        self.masks = masks

    def defect_masks(self) -> list[np.ndarray]:
        return self.masks

    def other_normal(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, 256, (*SHAPE, 3), dtype=np.uint8)


def disc(shape: tuple[int, int], center: tuple[int, int], radius: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.circle(mask, center, radius, 255, -1)
    return mask


def rect(shape: tuple[int, int], x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    mask[y0:y1, x0:x1] = 255
    return mask


@pytest.fixture
def object_context() -> SampleContext:
    """A disc-shaped object with three parts inside it, and three real defect masks of different sizes."""
    foreground = disc(SHAPE, (32, 32), 24)
    regions = [rect(SHAPE, 18, 18, 30, 26), rect(SHAPE, 36, 20, 46, 30), disc(SHAPE, (32, 42), 5)]
    defects = [disc(SHAPE, (10, 10), 3), rect(SHAPE, 40, 40, 50, 46), disc(SHAPE, (20, 50), 6)]
    return SampleContext("widget", foreground, regions, FakePool(defects))
