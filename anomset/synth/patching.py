"""Crop-local primitives for methods that copy content into a mask (CutPaste, CutPaste-scar, NSA)."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (end exclusive)


def mask_box(mask: np.ndarray) -> Box:
    """Bounding box of the non-zero pixels of ``mask`` (empty masks give an empty box)."""
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask, dtype=np.uint8))
    return y, y + h, x, x + w


def paste_in_mask(image: np.ndarray, mask: np.ndarray, patch: np.ndarray, box: Box) -> np.ndarray:
    """A copy of ``image`` with ``patch`` (the size of ``box``) written where ``mask`` is set, only there."""
    y0, y1, x0, x1 = box
    out = image.copy()
    inside = mask[y0:y1, x0:x1] > 0
    np.copyto(out[y0:y1, x0:x1], patch, where=inside[..., None])
    return out


def draw_far_point(rng: np.random.Generator, y_range: tuple[int, int], x_range: tuple[int, int],
                   reference: tuple[float, float], min_distance: float, tries: int = 16) -> tuple[int, int]:
    """An integer (y, x) drawn uniformly from the inclusive ranges, at least ``min_distance`` from
    ``reference`` (y, x) if one of ``tries`` draws gets there; otherwise the last draw."""
    y = x = 0
    for _ in range(tries):
        y = int(rng.integers(y_range[0], y_range[1] + 1))
        x = int(rng.integers(x_range[0], x_range[1] + 1))
        if np.hypot(y - reference[0], x - reference[1]) >= min_distance:
            break
    return y, x
