"""Perlin-noise masks (DRAEM): vectorised gradient noise, thresholded and rotated."""

from __future__ import annotations

import functools

import cv2
import numpy as np
from pydantic import Field, model_validator

from anomset.context import SampleContext
from anomset.masks.area import AreaParams, target_area
from anomset.masks.base import MaskResult, MaskStrategy, uniform
from anomset.ranges import AngleRange
from anomset.registry import MASKS

Window = tuple[int, int, int, int]


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for array in arrays:
        array.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=512)
def _row_terms(size: int, cells: int, start: int, stop: int) -> tuple[np.ndarray, ...]:
    """Lattice row of pixels ``start..stop`` and the weights of its two lattice rows' gradients
    (columns: y-gradient, x-gradient), from the cell fraction and its fade."""
    pos = (np.arange(start, stop, dtype=np.float64) + 0.5) * cells / size
    index = np.minimum(pos.astype(np.int64), cells - 1)
    frac = pos - index
    fade = _fade(frac)
    near = np.stack([(1 - fade) * frac, 1 - fade], axis=1)[:, :, None]
    far = np.stack([fade * (frac - 1), fade], axis=1)[:, :, None]
    return _frozen(index, near, far)


@functools.lru_cache(maxsize=512)
def _column_weights(size: int, cells: int, start: int, stop: int) -> tuple[np.ndarray, ...]:
    """How each pixel column ``start..stop`` mixes the per-lattice-column row terms: a sparse
    (2·(cells+1)) × columns matrix for few cells, or gather indices and four weights for many."""
    pos = (np.arange(start, stop, dtype=np.float64) + 0.5) * cells / size
    index = np.minimum(pos.astype(np.int64), cells - 1)
    frac = pos - index
    fade = _fade(frac)
    scale = np.sqrt(2.0)  # brings the noise to about [-1, 1]
    weights = [(1 - fade) * scale, fade * scale, (1 - fade) * frac * scale, fade * (frac - 1) * scale]
    if cells <= 32:
        matrix = np.zeros((2 * (cells + 1), stop - start), np.float32)
        cols = np.arange(stop - start)
        for row, weight in zip((index, index + 1, cells + 1 + index, cells + 2 + index), weights, strict=True):
            matrix[row, cols] = weight
        return _frozen(matrix)
    return _frozen(index, *(w.astype(np.float32) for w in weights))


def perlin_noise(shape: tuple[int, int], cells: tuple[int, int], rng: np.random.Generator,
                 window: Window | None = None) -> np.ndarray:
    """2-D gradient noise in about [-1, 1] (float32), with ``cells`` (rows, cols) lattice cells over ``shape``.

    ``window`` = (y0, y1, x0, x1) computes only that part of the same noise field (the random
    lattice drawn is the same), for callers that only need the pixels under a mask.
    """
    h, w = shape
    y0, y1, x0, x1 = window if window is not None else (0, h, 0, w)
    cy, cx = max(1, int(cells[0])), max(1, int(cells[1]))
    angles = rng.uniform(0.0, 2.0 * np.pi, size=(cy + 1, cx + 1))
    lattice = np.concatenate([np.sin(angles), np.cos(angles)], axis=1).reshape(cy + 1, 2, cx + 1)
    # The bilinear blend of the four corner dot products factors: the row direction folds into
    # one (y-gradient, x-gradient) term per lattice column, so the full-size work is one small
    # matrix product (few cells) or four column gathers (many cells) instead of 2-D gathers.
    iy, near, far = _row_terms(h, cy, y0, y1)
    rows = (lattice[iy] * near + lattice[iy + 1] * far).astype(np.float32)
    columns = _column_weights(w, cx, x0, x1)
    if len(columns) == 1:
        return rows.reshape(y1 - y0, -1) @ columns[0]
    ix, a0, a1, b0, b1 = columns
    p, q = rows[:, 0], rows[:, 1]
    noise = p[:, ix] * a0 + p[:, ix + 1] * a1 + q[:, ix] * b0 + q[:, ix + 1] * b1
    return np.ascontiguousarray(noise)


def rotate_image(array: np.ndarray, angle_deg: float, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Rotate about the centre, keeping the size; uncovered corners are reflected, not black."""
    h, w = array.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    return cv2.warpAffine(array, matrix, (w, h), flags=interpolation, borderMode=cv2.BORDER_REFLECT_101)


class PerlinParams(AreaParams):
    min_scale_exp: int = Field(default=0, ge=0, le=8, description="lattice cells per side: 2**exp")
    max_scale_exp: int = Field(default=6, ge=0, le=8, description="exclusive upper exponent")
    threshold: float = Field(default=0.5, ge=-1.0, le=1.0, description="area: params only (real sets its own)")
    rotation: AngleRange = Field(default=(-90.0, 90.0), description="degrees")
    min_area_ratio: float = Field(default=0.0005, ge=0.0, le=1.0, description="redraw below this")

    @model_validator(mode="after")
    def _scales_ordered(self) -> PerlinParams:
        if self.min_scale_exp >= self.max_scale_exp:
            raise ValueError(f"need min_scale_exp < max_scale_exp (the upper exponent is exclusive), got "
                             f"{self.min_scale_exp} and {self.max_scale_exp}")
        return self


@MASKS.register("perlin")
class PerlinMask(MaskStrategy):
    """Thresholded Perlin noise at random scales 2^a × 2^b, rotated (DRAEM's anomaly shapes)."""

    Params = PerlinParams

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        p = self.params
        high = p.max_scale_exp
        target = target_area(p, context, shape, rng)
        if target is not None:
            return self._calibrated(shape, context, rng, target)
        for _ in range(32):
            sy, sx = (2 ** int(rng.integers(p.min_scale_exp, high)) for _ in range(2))
            angle = uniform(rng, p.rotation)
            noise = perlin_noise(shape, (sy, sx), rng)
            # Threshold first, then turn the binary mask (nearest): the same shape as turning the
            # noise and thresholding it, to within a pixel at the edges, at a fraction of the cost.
            mask = cv2.threshold(noise, p.threshold, 255, cv2.THRESH_BINARY)[1].astype(np.uint8)
            mask = rotate_image(mask, angle, cv2.INTER_NEAREST)
            area = cv2.countNonZero(mask & context.foreground)
            if area >= p.min_area_ratio * mask.size:
                break
        return MaskResult(mask, {"scale": [sy, sx], "rotation": round(angle, 4)})

    def _calibrated(self, shape: tuple[int, int], context: SampleContext, rng: np.random.Generator,
                    target: float) -> MaskResult:
        """The highest ``target`` pixels of the rotated noise on the foreground: the threshold is the
        noise level that leaves that area, so the shape stays Perlin's and only its size is set."""
        p = self.params
        sy, sx = (2 ** int(rng.integers(p.min_scale_exp, p.max_scale_exp)) for _ in range(2))
        angle = uniform(rng, p.rotation)
        noise = rotate_image(perlin_noise(shape, (sy, sx), rng), angle)
        region = context.foreground > 0
        if not region.any():
            region = np.ones(shape, bool)
        values = noise[region]
        keep = int(min(values.size, max(1, round(target))))
        level = float(np.partition(values, values.size - keep)[values.size - keep])
        mask = np.where((noise >= level) & region, 255, 0)
        return MaskResult(mask.astype(np.uint8), {"scale": [sy, sx], "rotation": round(angle, 4),
                                                  "threshold": round(level, 5), "target_area": round(target, 2)})
