"""Residual masks (ComGEN): where a generated image really differs from its nearest normal, aligned.

When a generator's own mask is not trusted (the model may have painted only part of it, or nothing
visible), the mask is rebuilt from the image: the nearest normal in feature space (``nearest``, on
pooled backbone features) is aligned onto it by phase correlation (``align_to``), and their blurred
absolute difference is thresholded and cleaned (``residual_mask``). Pure array code; the features
come from the caller.
"""

from __future__ import annotations

import cv2
import numpy as np

from anomset.masks.base import binarize, open_close


def nearest(query: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Index of the nearest row of ``bank`` (N×D) for every row of ``query`` (M×D), by cosine distance."""
    def unit(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    return np.argmax(unit(query) @ unit(bank).T, axis=1)


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def align_to(reference: np.ndarray, image: np.ndarray, max_shift: float = 0.25,
             min_response: float = 0.1) -> tuple[np.ndarray, list[float]]:
    """``reference`` translated onto ``image`` (phase correlation of their grey levels) and the shift [dx, dy].

    No window: a Hanning window weights the centre, where the anomaly often is, and misleads the peak.
    A weak peak (response under ``min_response``) or a shift beyond ``max_shift`` of the image side is
    not trusted (another part, not a misplaced one) and leaves the reference unmoved.
    """
    h, w = image.shape[:2]
    (dx, dy), response = cv2.phaseCorrelate(_grey(reference), _grey(image))
    if response < min_response or abs(dx) > max_shift * w or abs(dy) > max_shift * h:
        dx = dy = 0.0
    if dx == 0.0 and dy == 0.0:
        return reference, [0.0, 0.0]
    shift = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(reference, shift, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return moved, [round(float(dx), 3), round(float(dy), 3)]


def residual_mask(image: np.ndarray, reference: np.ndarray, *, threshold: float, blur: int = 3, kernel: int = 3,
                  min_area: int = 16) -> np.ndarray:
    """uint8 {0,255}: pixels whose blurred largest-channel |image - reference| reaches ``threshold`` (0-255),
    opened and closed with a ``kernel`` ellipse, components under ``min_area`` pixels dropped."""
    diff = np.abs(image.astype(np.int16) - reference.astype(np.int16)).max(axis=2).astype(np.float32)
    if blur > 1:
        diff = cv2.GaussianBlur(diff, (blur | 1, blur | 1), 0)
    mask = open_close(binarize(diff >= threshold), kernel)
    if min_area > 1 and mask.any():
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        keep = np.zeros(count, bool)
        keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
        mask = binarize(keep[labels])
    return mask
