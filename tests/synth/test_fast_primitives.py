"""The speed rewrites keep the old results: factored Perlin, LUT percentile, windowed resize."""

from __future__ import annotations

import cv2
import numpy as np

from anomset.masks.perlin import perlin_noise
from anomset.synth.texture_augment import percentile_u8
from anomset.synth.textures import resized_window


def reference_perlin(shape, cells, rng):
    """Straightforward per-corner gradient noise (the original formulation)."""
    h, w = shape
    cy, cx = cells
    angles = rng.uniform(0.0, 2.0 * np.pi, size=(cy + 1, cx + 1))
    grad = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    ys = (np.arange(h) + 0.5) * cy / h
    xs = (np.arange(w) + 0.5) * cx / w
    iy, ix = np.minimum(ys.astype(int), cy - 1), np.minimum(xs.astype(int), cx - 1)
    fy, fx = (ys - iy)[:, None], (xs - ix)[None, :]

    def corner(dy, dx):
        g = grad[iy[:, None] + dy, ix[None, :] + dx]
        return g[..., 1] * (fy - dy) + g[..., 0] * (fx - dx)

    def fade(t):
        return t * t * t * (t * (t * 6 - 15) + 10)

    uy, ux = fade(fy), fade(fx)
    top = corner(0, 0) * (1 - ux) + corner(0, 1) * ux
    bottom = corner(1, 0) * (1 - ux) + corner(1, 1) * ux
    return (top * (1 - uy) + bottom * uy) * np.sqrt(2.0)


def test_perlin_matches_reference_and_windows():
    for cells in ((1, 1), (3, 5), (4, 40)):  # small (matrix product) and many (gather) columns
        fast = perlin_noise((48, 56), cells, np.random.default_rng(0))
        slow = reference_perlin((48, 56), cells, np.random.default_rng(0))
        assert fast.dtype == np.float32 and np.abs(fast - slow).max() < 1e-5
        window = perlin_noise((48, 56), cells, np.random.default_rng(0), (5, 30, 7, 50))
        assert np.abs(window - fast[5:30, 7:50]).max() < 1e-6


def test_percentile_from_histogram():
    values = np.random.default_rng(0).integers(0, 256, (37, 41, 3), dtype=np.uint8)
    values[:5] = 3
    for q in (0, 1, 37.5, 50, 99, 100):
        assert abs(percentile_u8(values, q) - np.percentile(values, q)) < 1e-9


def test_resized_window_matches_resize():
    image = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    full = cv2.resize(image, (120, 100), interpolation=cv2.INTER_LINEAR)
    small = resized_window(image, (100, 120), (10, 40, 20, 60))  # warped window
    assert np.abs(small.astype(int) - full[10:40, 20:60]).max() <= 1
    large = resized_window(image, (100, 120), (5, 95, 3, 110))  # resized whole, then cut
    assert np.array_equal(large, full[5:95, 3:110])
