"""Near-distribution anomaly of the AAAI-24 augmentation framework (Lin et al.): a rectangle of the
image distorted along a sine curve, masked where the distortion is dense enough to be seen."""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import MaskResult, uniform
from anomset.masks.shapes import RectangleMask
from anomset.ranges import PositiveRange, RatioRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.change import change_map
from anomset.synth.patching import mask_box


class NearDistributionParams(StrictModel):
    area_ratio: RatioRange = Field(default=(0.02, 0.12), description="rectangle area / image area (own mask)")
    aspect_ratio: PositiveRange = Field(default=(0.5, 2.0), description="rectangle width / height (own mask)")
    amplitude: RatioRange = Field(default=(0.01, 0.03), description="sine amplitude A / shorter image side")
    wavelength: PositiveRange = Field(default=(0.04, 0.2), description="sine wavelength λ / shorter image side")
    direction: Literal["rows", "columns", "both", "either"] = Field(
        default="either", description="rows: each row shifts sideways; columns: each column shifts up/down")
    threshold: int = Field(default=16, ge=0, le=254, description="grey levels a pixel must change to count")
    block: float = Field(default=1 / 32, gt=0.0, le=0.25,
                         description="block side of the density check / shorter image side (at least 2 px)")
    density: float = Field(default=0.2, ge=0.0, le=1.0, description="changed share a block needs to be kept")


def dense_change(raw: np.ndarray, block: int, density: float) -> np.ndarray:
    """``raw`` (bool) kept only in ``block``×``block`` tiles where at least ``density`` of it is set:
    the block-reduced mask, brought back to full size and multiplied with the raw one, so dense areas
    survive and scattered dots do not."""
    h, w = raw.shape
    th, tw = -(-h // block), -(-w // block)
    tiles = np.zeros((th * block, tw * block), np.float32)
    tiles[:h, :w] = raw
    share = tiles.reshape(th, block, tw, block).mean(axis=(1, 3))
    dense = np.repeat(np.repeat(share >= max(density, 1e-6), block, axis=0), block, axis=1)[:h, :w]
    return raw & dense


def sine_shift(length: int, amplitude: float, wavelength: float, phase: float) -> np.ndarray:
    """A·sin(2π·t/λ + φ) for t = 0..length-1, float32."""
    t = np.arange(length, dtype=np.float32)
    return (amplitude * np.sin(2.0 * np.pi * t / wavelength + phase)).astype(np.float32)


@SYNTHESIZERS.register("near_distribution")
class NearDistribution(Synthesizer):
    """A rectangle warped along a sine curve; mask = dense areas of visible change (AAAI-24 near-distribution)."""

    Params = NearDistributionParams

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        p = self.params
        return RectangleMask(area_ratio=p.area_ratio, aspect_ratio=p.aspect_ratio)(shape, context, rng)

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        p = self.params
        side = min(image.shape[:2])
        direction = p.direction
        if direction == "either":
            direction = ("rows", "columns")[int(rng.integers(2))]
        amplitude = uniform(rng, p.amplitude) * side
        wavelength = max(2.0, uniform(rng, p.wavelength) * side)
        phase = float(rng.uniform(0.0, 2.0 * math.pi))
        y0, y1, x0, x1 = mask_box(mask)
        # Sampling maps for the box only, in full-image coordinates (the warp reads outside the box).
        map_x, map_y = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        if direction in ("rows", "both"):
            map_x += sine_shift(y1 - y0, amplitude, wavelength, phase)[:, None]
        if direction in ("columns", "both"):
            map_y += sine_shift(x1 - x0, amplitude, wavelength, phase)[None, :]
        warped = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        window = image[y0:y1, x0:x1]
        raw = (change_map(window, warped) > p.threshold) & (mask[y0:y1, x0:x1] > 0)
        keep = dense_change(raw, max(2, round(p.block * side)), p.density)
        out = image.copy()
        np.copyto(out[y0:y1, x0:x1], warped, where=keep[..., None])
        out_mask = np.zeros(mask.shape, np.uint8)
        out_mask[y0:y1, x0:x1] = keep.astype(np.uint8) * 255
        return SynthResult(out, out_mask, {"direction": direction, "amplitude": round(amplitude, 3),
                                           "wavelength": round(wavelength, 3), "phase": round(phase, 4)})
