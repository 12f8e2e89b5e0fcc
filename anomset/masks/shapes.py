"""Parametric mask shapes: rectangle (CutPaste patch), scar (thin rotated strip), ellipse/blob."""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import Field

from anomset.context import SampleContext
from anomset.masks.area import AreaParams, sized, target_area
from anomset.masks.base import (
    MaskResult,
    MaskStrategy,
    log_uniform,
    random_point_in,
    rotated_rectangle,
    uniform,
)
from anomset.ranges import AngleRange, PositiveRange, RatioRange
from anomset.registry import MASKS


class RectangleParams(AreaParams):
    area_ratio: RatioRange = Field(default=(0.02, 0.15), description="patch area / image area")
    aspect_ratio: PositiveRange = Field(default=(0.3, 3.3), description="width / height, drawn log-uniformly")
    rotation: AngleRange = Field(default=(0.0, 0.0), description="degrees")


@MASKS.register("rectangle")
class RectangleMask(MaskStrategy):
    """An axis-aligned or rotated rectangle centred on the foreground (CutPaste's patch)."""

    Params = RectangleParams

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        h, w = shape
        target = target_area(self.params, context, shape, rng)
        area = uniform(rng, self.params.area_ratio) * h * w if target is None else target
        aspect = log_uniform(rng, self.params.aspect_ratio)
        pw = min(w, max(1.0, math.sqrt(area * aspect)))
        ph = min(h, max(1.0, math.sqrt(area / aspect)))
        angle = uniform(rng, self.params.rotation)
        cx, cy = random_point_in(context.foreground, rng)
        mask, k, extra = sized(lambda k: rotated_rectangle(shape, (cx, cy), (pw * k, ph * k), angle),
                               target, context.foreground)
        pw, ph = pw * k, ph * k
        return MaskResult(mask, {"center": [cx, cy], "size": [round(pw, 3), round(ph, 3)],
                                 "rotation": round(angle, 4), **extra})


class ScarParams(AreaParams):
    width: RatioRange = Field(default=(0.008, 0.0625), description="fraction of the shorter side")
    length: RatioRange = Field(default=(0.04, 0.1), description="fraction of the shorter side")
    rotation: AngleRange = Field(default=(-45.0, 45.0), description="degrees")


@MASKS.register("scar")
class ScarMask(MaskStrategy):
    """A thin rotated strip (CutPaste-scar)."""

    Params = ScarParams

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        side = min(shape)
        target = target_area(self.params, context, shape, rng)
        width = max(1.0, uniform(rng, self.params.width) * side)
        length = max(2.0, uniform(rng, self.params.length) * side)
        angle = uniform(rng, self.params.rotation)
        cx, cy = random_point_in(context.foreground, rng)
        if target is not None:
            # The drawn width/length ratio is the scar's shape; its size follows the real area.
            base = math.sqrt(target / (width * length))
            width, length = max(1.0, width * base), max(2.0, length * base)
        mask, k, extra = sized(lambda k: rotated_rectangle(shape, (cx, cy), (max(1.0, width * k), length * k), angle),
                               target, context.foreground)
        width, length = max(1.0, width * k), length * k
        return MaskResult(mask, {"center": [cx, cy], "size": [round(width, 3), round(length, 3)],
                                 "rotation": round(angle, 4), **extra})


class EllipseParams(AreaParams):
    area_ratio: RatioRange = Field(default=(0.005, 0.05), description="ellipse area / image area")
    aspect_ratio: PositiveRange = Field(default=(0.4, 2.5), description="width / height, drawn log-uniformly")
    irregularity: float = Field(default=0.0, ge=0.0, le=0.8,
                                description="0 = ellipse; higher = blob with a wavier outline")
    harmonics: int = Field(default=4, ge=1, le=12)


@MASKS.register("ellipse")
class EllipseMask(MaskStrategy):
    """An ellipse, or with ``irregularity`` > 0 a blob whose radius wobbles by random harmonics."""

    Params = EllipseParams

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        h, w = shape
        p = self.params
        target = target_area(p, context, shape, rng)
        area = uniform(rng, p.area_ratio) * h * w if target is None else target
        aspect = log_uniform(rng, p.aspect_ratio)
        ax = math.sqrt(area * aspect / math.pi)
        ay = math.sqrt(area / aspect / math.pi)
        angle = float(rng.uniform(0.0, 180.0))
        cx, cy = random_point_in(context.foreground, rng)
        theta = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
        radius = np.ones_like(theta)
        if p.irregularity > 0:
            amps = rng.uniform(0.0, 1.0, p.harmonics) / np.arange(1, p.harmonics + 1)
            phases = rng.uniform(0.0, 2.0 * np.pi, p.harmonics)
            wobble = sum(a * np.cos((k + 2) * theta + ph) for k, (a, ph) in enumerate(zip(amps, phases, strict=True)))
            radius = 1.0 + p.irregularity * wobble / max(1e-6, np.abs(wobble).max())
        rad = np.deg2rad(angle)

        def render(k: float) -> np.ndarray:
            x = k * ax * radius * np.cos(theta)
            y = k * ay * radius * np.sin(theta)
            pts = np.stack([cx + x * np.cos(rad) - y * np.sin(rad), cy + x * np.sin(rad) + y * np.cos(rad)], -1)
            mask = np.zeros(shape, np.uint8)
            cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 255)
            return mask

        mask, k, extra = sized(render, target, context.foreground)
        ax, ay = ax * k, ay * k
        return MaskResult(mask, {"center": [cx, cy], "axes": [round(ax, 3), round(ay, 3)],
                                 "rotation": round(angle, 4), **extra})
