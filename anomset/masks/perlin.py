"""Perlin-noise masks (DRAEM): vectorised gradient noise, thresholded and rotated."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import MaskResult, MaskStrategy, binarize, uniform
from anomset.registry import MASKS


def perlin_noise(shape: tuple[int, int], cells: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """2-D gradient noise in about [-1, 1], with ``cells`` (rows, cols) lattice cells over ``shape``."""
    h, w = shape
    cy, cx = max(1, int(cells[0])), max(1, int(cells[1]))
    angles = rng.uniform(0.0, 2.0 * np.pi, size=(cy + 1, cx + 1))
    grad = np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    # Continuous lattice coordinates of every pixel, split into cell index and fraction.
    ys = (np.arange(h, dtype=np.float64) + 0.5) * cy / h
    xs = (np.arange(w, dtype=np.float64) + 0.5) * cx / w
    iy = np.minimum(ys.astype(np.int64), cy - 1)
    ix = np.minimum(xs.astype(np.int64), cx - 1)
    fy = (ys - iy)[:, None]
    fx = (xs - ix)[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        g = grad[iy[:, None] + dy, ix[None, :] + dx]
        return g[..., 1] * (fy - dy) + g[..., 0] * (fx - dx)

    def fade(t: np.ndarray) -> np.ndarray:
        return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)

    uy, ux = fade(fy), fade(fx)
    top = corner(0, 0) * (1 - ux) + corner(0, 1) * ux
    bottom = corner(1, 0) * (1 - ux) + corner(1, 1) * ux
    return (top * (1 - uy) + bottom * uy) * np.sqrt(2.0)


def rotate_image(array: np.ndarray, angle_deg: float, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Rotate about the centre, keeping the size; uncovered corners are reflected, not black."""
    h, w = array.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    return cv2.warpAffine(array, matrix, (w, h), flags=interpolation, borderMode=cv2.BORDER_REFLECT_101)


class PerlinParams(StrictModel):
    min_scale_exp: int = Field(default=0, ge=0, le=8, description="lattice cells per side: 2**exp")
    max_scale_exp: int = Field(default=6, ge=0, le=8, description="exclusive upper exponent")
    threshold: float = Field(default=0.5, ge=-1.0, le=1.0)
    rotation: tuple[float, float] = (-90.0, 90.0)
    min_area_ratio: float = Field(default=0.0005, ge=0.0, le=1.0, description="redraw below this")


@MASKS.register("perlin")
class PerlinMask(MaskStrategy):
    """Thresholded Perlin noise at random scales 2^a × 2^b, rotated (DRAEM's anomaly shapes)."""

    Params = PerlinParams

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        p = self.params
        high = max(p.max_scale_exp, p.min_scale_exp + 1)
        for _ in range(32):
            sy, sx = (2 ** int(rng.integers(p.min_scale_exp, high)) for _ in range(2))
            angle = uniform(rng, p.rotation)
            noise = rotate_image(perlin_noise(shape, (sy, sx), rng).astype(np.float32), angle)
            mask = binarize(noise > p.threshold)
            area = np.count_nonzero(mask & context.foreground)
            if area >= p.min_area_ratio * mask.size:
                break
        return MaskResult(mask, {"scale": [sy, sx], "rotation": round(angle, 4)})
