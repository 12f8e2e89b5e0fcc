"""GAA geometric enhancement: new defect masks grown from the class's real defect masks.

A real mask is closed morphologically (dilate, then erode), its largest contour approximated by a
polygon (tolerance δ × perimeter), the vertices randomly perturbed, and the polygon scaled about
its centroid toward the class's average defect area A_avg by the GAA factor

    s = α·√(A_avg / A) + (1 − α)·∛(A_avg / A)

(√ alone would hit A_avg exactly; the ∛ term keeps part of the seed's own size). The result is
placed with its centroid on the foreground.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.errors import SynthesisError
from anomset.masks.base import MaskResult, MaskStrategy, random_point_in, uniform
from anomset.ranges import AngleRange, Domain, RatioRange, range_type
from anomset.registry import MASKS

ToleranceRange = range_type(Domain(0.0, 0.5))


def area_scale(area: float, mean_area: float, alpha: float) -> float:
    """GAA's linear scale factor s = α·√(A_avg/A) + (1−α)·∛(A_avg/A); the area becomes s²·A."""
    ratio = mean_area / max(area, 1e-9)
    return alpha * math.sqrt(ratio) + (1.0 - alpha) * ratio ** (1.0 / 3.0)


def close_mask(mask: np.ndarray, kernel: int) -> np.ndarray:
    """Morphological closing (dilate then erode) with an elliptical kernel; 1 leaves the mask as is."""
    binary = np.where(mask > 0, 255, 0).astype(np.uint8)
    if kernel <= 1:
        return binary
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    # Pad so that shapes touching the image edge are not eroded from outside.
    padded = cv2.copyMakeBorder(binary, kernel, kernel, kernel, kernel, cv2.BORDER_CONSTANT, value=0)
    closed = cv2.erode(cv2.dilate(padded, element), element)
    return closed[kernel:-kernel, kernel:-kernel]


def largest_contour(mask: np.ndarray) -> np.ndarray | None:
    """The outer contour (N×2 float) of the largest component, or None for an empty mask."""
    contours, _ = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    best = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    return best.reshape(-1, 2).astype(np.float64)


def approximate_polygon(contour: np.ndarray, delta: float) -> np.ndarray:
    """Douglas–Peucker polygon with tolerance ``delta`` × perimeter; keeps ≥ 3 vertices if it can."""
    points = contour.reshape(-1, 1, 2).astype(np.float32)
    epsilon = delta * cv2.arcLength(points, True)
    poly = cv2.approxPolyDP(points, epsilon, True).reshape(-1, 2).astype(np.float64)
    if len(poly) < 3 and len(contour) >= 3:
        return contour  # too coarse a tolerance for a thin shape: keep the contour itself
    return poly


def perturb_vertices(poly: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Each vertex moved uniformly within ±``amount`` × √(polygon area) on each axis."""
    size = math.sqrt(max(polygon_area(poly), 1.0))
    return poly + rng.uniform(-amount, amount, poly.shape) * size


def polygon_area(poly: np.ndarray) -> float:
    """Absolute shoelace area."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def raster_area(poly: np.ndarray) -> int:
    """Pixels the polygon covers when filled: the same unit as a defect mask's area."""
    shifted = np.round(poly - poly.min(axis=0)).astype(np.int32)
    w, h = (int(v) + 1 for v in shifted.max(axis=0))
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [shifted], 255)
    return int(np.count_nonzero(canvas))


def transform_polygon(poly: np.ndarray, scale: float, angle_deg: float, center: tuple[float, float]) -> np.ndarray:
    """Scale and rotate about the vertex centroid, then move that centroid to ``center``."""
    centroid = poly.mean(axis=0)
    rad = math.radians(angle_deg)
    rotation = np.array([[math.cos(rad), -math.sin(rad)], [math.sin(rad), math.cos(rad)]])
    return (poly - centroid) @ rotation.T * scale + np.asarray(center, np.float64)


def fill_polygon(shape: tuple[int, int], poly: np.ndarray) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 255)
    return mask


def blob_polygon(area: float, rng: np.random.Generator, vertices: int = 12) -> np.ndarray:
    """A random star-shaped polygon of about ``area`` pixels centred on 0 (the fallback seed)."""
    theta = np.sort(rng.uniform(0.0, 2.0 * np.pi, vertices))
    radius = rng.uniform(0.6, 1.0, vertices)
    poly = np.stack([radius * np.cos(theta), radius * np.sin(theta)], -1)
    return poly * math.sqrt(area / max(polygon_area(poly), 1e-9))


class GeometricParams(StrictModel):
    delta: ToleranceRange = Field(default=(0.005, 0.02), description="polygon tolerance / perimeter (drawn)")
    perturbation: float = Field(default=0.08, ge=0.0, le=0.5,
                                description="max vertex shift / √(seed area), per axis")
    alpha: float = Field(default=0.5, ge=0.0, le=1.0, description="weight of √ vs ∛ in the area scale")
    closing_kernel: int = Field(default=5, ge=1, le=63, description="closing kernel side, pixels")
    rotation: AngleRange = Field(default=(0.0, 0.0), description="degrees, drawn")
    min_inside: float = Field(default=0.8, ge=0.0, le=1.0,
                              description="fraction of the mask to land on the foreground")
    placement_tries: int = Field(default=8, ge=1, le=100)
    fallback: Literal["error", "blob"] = Field(
        default="error", description="no real defect masks: 'error', or grow from random blobs")
    fallback_area_ratio: RatioRange = Field(default=(0.003, 0.03),
                                            description="blob seed area / image area (fallback only)")


@MASKS.register("geometric")
class GeometricMask(MaskStrategy):
    """GAA geometric enhancement of a real defect mask: close, polygonise, perturb, scale to the mean area."""

    Params = GeometricParams

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        p = self.params
        seed, mean_area, info = self._seed(shape, context, rng)
        delta = uniform(rng, p.delta)
        poly = perturb_vertices(approximate_polygon(seed, delta), p.perturbation, rng)
        area = float(max(raster_area(poly), 1))
        scale = area_scale(area, mean_area, p.alpha)
        angle = uniform(rng, p.rotation)
        best, best_inside, center = None, -1.0, (0, 0)
        for _ in range(p.placement_tries):
            cx, cy = random_point_in(context.foreground, rng)
            mask = fill_polygon(shape, transform_polygon(poly, scale, angle, (cx, cy)))
            drawn = np.count_nonzero(mask)
            inside = np.count_nonzero(mask & context.foreground) / drawn if drawn else 0.0
            if inside > best_inside:
                best, best_inside, center = mask, inside, (cx, cy)
            if inside >= p.min_inside:
                break
        return MaskResult(best, {**info, "delta": round(delta, 5), "vertices": len(poly),
                                 "seed_area": round(area, 2), "mean_area": round(mean_area, 2),
                                 "scale": round(scale, 5), "rotation": round(angle, 4),
                                 "center": [int(center[0]), int(center[1])]})

    def _seed(self, shape: tuple[int, int], context: SampleContext,
              rng: np.random.Generator) -> tuple[np.ndarray, float, dict[str, Any]]:
        """A seed contour at ``shape``'s scale, the class's mean defect area, and what was drawn."""
        p = self.params
        masks = [m for m in (context.pool.defect_masks() if context.pool else []) if np.any(m)]
        if not masks:
            if p.fallback == "error":
                raise SynthesisError(
                    f"class {context.class_name!r} has no real defect masks for the geometric mask "
                    "strategy to learn from", field="mask.strategy",
                    fix="use a source that gives the class defects in its train split, set "
                        "mask.params.fallback: blob, or use another mask strategy")
            h, w = shape
            low, high = p.fallback_area_ratio
            seed = blob_polygon(uniform(rng, (low, high)) * h * w, rng)
            return seed, 0.5 * (low + high) * h * w, {"seed": "blob"}
        index = int(rng.integers(len(masks)))
        chosen = masks[index]
        sy, sx = shape[0] / chosen.shape[0], shape[1] / chosen.shape[1]
        mean_area = float(np.mean([np.count_nonzero(m) for m in masks])) * sy * sx
        contour = largest_contour(close_mask(chosen, p.closing_kernel))
        return contour * np.array([sx, sy]), mean_area, {"seed": "defect", "seed_index": index}
