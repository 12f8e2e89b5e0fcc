"""Masks of what a transform actually changed: threshold the difference, clean it, keep only that.

``keep_visible_change`` (NSA's Poisson blending): the returned mask is where the change exceeds a
tolerance, cleaned morphologically and restricted to the allowed area, and every pixel outside it
is reset to the input, so pixels outside the mask are bit-identical to the input; the price is a
step of at most ``tolerance`` grey levels at the mask edge where a faint fringe was dropped.
"""

from __future__ import annotations

import cv2
import numpy as np

from anomset.masks.base import open_close
from anomset.synth.patching import Box, mask_box


def change_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Largest absolute per-channel difference, uint8 H×W."""
    diff = cv2.absdiff(before, after)
    if diff.ndim == 2:
        return diff
    # Pairwise maxima of the channel views: several times faster than diff.max(axis=2).
    return np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2])


def grow_box(box: Box, margin: int, shape: tuple[int, int]) -> Box:
    """``box`` widened by ``margin`` on every side, clipped to ``shape``."""
    y0, y1, x0, x1 = box
    return max(0, y0 - margin), min(shape[0], y1 + margin), max(0, x0 - margin), min(shape[1], x1 + margin)


def keep_visible_change(image: np.ndarray, changed: np.ndarray, allowed: np.ndarray, tolerance: int,
                        kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """(output, mask): ``changed`` where it differs from ``image`` by more than ``tolerance`` (after
    cleaning with ``kernel`` and within ``allowed``), ``image`` everywhere else.

    Works on the bounding box of ``allowed`` only; ``changed`` must equal ``image`` outside ``allowed``
    for the result to match a full-image computation (callers composite inside ``allowed``).
    """
    mask = np.zeros(image.shape[:2], np.uint8)
    out = image.copy()
    box = mask_box(allowed)
    if box[0] == box[1]:
        return out, mask
    y0, y1, x0, x1 = grow_box(box, kernel, mask.shape)
    window = (slice(y0, y1), slice(x0, x1))
    visible = np.where(change_map(image[window], changed[window]) > tolerance, np.uint8(255), np.uint8(0))
    visible = open_close(visible, kernel) & allowed[window]
    mask[window] = visible
    np.copyto(out[window], changed[window], where=(visible > 0)[..., None])
    return out, mask
