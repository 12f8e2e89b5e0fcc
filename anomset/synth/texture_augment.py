"""DRAEM's random texture augmentations, as per-level lookup tables where an op is point-wise."""

from __future__ import annotations

import cv2
import numpy as np

from anomset.masks.perlin import rotate_image

_LEVELS = np.arange(256, dtype=np.float64)


def _lut(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Apply a 256-entry per-level map (every point-wise op below is one table lookup)."""
    return cv2.LUT(image, np.clip(table, 0, 255).astype(np.uint8))


def percentile_u8(image: np.ndarray, q: float) -> float:
    """``np.percentile(image, q)`` (linear interpolation) of a uint8 array, from its histogram."""
    counts = np.cumsum(cv2.calcHist([image.reshape(-1, 1)], [0], None, [256], [0, 256]).ravel())
    position = q / 100.0 * (counts[-1] - 1)
    below = int(position)
    low = int(np.searchsorted(counts, below, side="right"))
    high = int(np.searchsorted(counts, below + 1, side="right")) if position > below else low
    return low + (position - below) * (high - low)


def augment_texture(texture: np.ndarray, rng: np.random.Generator, count: int) -> tuple[np.ndarray, list[str]]:
    """Apply ``count`` distinct random photometric/geometric augmentations (DRAEM uses 3 of 9)."""
    ops = ("gamma", "brightness", "sharpen", "hue", "solarize", "posterize", "invert", "autocontrast",
           "rotate")
    chosen = [ops[i] for i in rng.permutation(len(ops))[:count]]
    out = texture
    for op in chosen:
        if op == "gamma":
            out = _lut(out, np.floor(255.0 * (_LEVELS / 255.0) ** rng.uniform(0.5, 2.0)))
        elif op == "brightness":
            gain = rng.uniform(0.8, 1.2)
            # float32 like the pixel-wise formula, so the table matches it level for level
            table = _LEVELS.astype(np.float32) * np.float32(gain) + np.float32(rng.uniform(-30, 30))
            out = _lut(out, np.floor(table))
        elif op == "sharpen":
            blur = cv2.GaussianBlur(out, (0, 0), 1.5)
            out = cv2.addWeighted(out, 1.8, blur, -0.8, 0)
        elif op == "hue":
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
            shift = int(rng.integers(-50, 50))
            hsv[..., 0] = cv2.LUT(hsv[..., 0], ((np.arange(256) + shift) % 180).astype(np.uint8))
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        elif op == "solarize":
            level = int(rng.integers(32, 128))
            out = _lut(out, np.where(level <= _LEVELS, 255 - _LEVELS, _LEVELS))
        elif op == "posterize":
            bits = int(rng.integers(4, 8))
            out = _lut(out, (np.arange(256) >> (8 - bits) << (8 - bits)).astype(np.float64))
        elif op == "invert":
            out = _lut(out, 255 - _LEVELS)
        elif op == "autocontrast":
            low, high = percentile_u8(out, 1), percentile_u8(out, 99)
            out = _lut(out, np.floor((_LEVELS - low) * 255.0 / max(1.0, high - low)))
        elif op == "rotate":
            out = rotate_image(out, float(rng.uniform(-90, 90)))
    return np.ascontiguousarray(out), chosen
