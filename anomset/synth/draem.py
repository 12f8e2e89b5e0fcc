"""DRAEM (Zavrtanik et al., ICCV 2021): an external texture blended into a Perlin-noise mask."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import MaskResult, uniform
from anomset.masks.perlin import PerlinMask, rotate_image
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.color import blend_in_mask
from anomset.synth.textures import TextureBank


class DraemParams(StrictModel):
    texture_dir: str | None = Field(default=None, description="folder of texture images (e.g. DTD)")
    opacity: tuple[float, float] = Field(default=(0.2, 1.0), description="texture weight in the blend")
    threshold: float = Field(default=0.5, ge=-1.0, le=1.0, description="Perlin threshold (own mask)")
    augmentations: int = Field(default=3, ge=0, le=6, description="random texture augmentations")


def augment_texture(texture: np.ndarray, rng: np.random.Generator, count: int) -> tuple[np.ndarray, list[str]]:
    """Apply ``count`` distinct random photometric/geometric augmentations (DRAEM uses 3 of 9)."""
    ops = ("gamma", "brightness", "sharpen", "hue", "solarize", "posterize", "invert", "autocontrast",
           "rotate")
    chosen = [ops[i] for i in rng.permutation(len(ops))[:count]]
    out = texture
    for op in chosen:
        if op == "gamma":
            gamma = rng.uniform(0.5, 2.0)
            out = (255.0 * (out / 255.0) ** gamma).astype(np.uint8)
        elif op == "brightness":
            out = np.clip(out.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-30, 30), 0, 255)
            out = out.astype(np.uint8)
        elif op == "sharpen":
            blur = cv2.GaussianBlur(out, (0, 0), 1.5)
            out = cv2.addWeighted(out, 1.8, blur, -0.8, 0)
        elif op == "hue":
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(rng.integers(-50, 50))) % 180).astype(np.uint8)
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        elif op == "solarize":
            level = int(rng.integers(32, 128))
            out = np.where(out >= level, 255 - out, out).astype(np.uint8)
        elif op == "posterize":
            bits = int(rng.integers(4, 8))
            out = (out >> (8 - bits) << (8 - bits)).astype(np.uint8)
        elif op == "invert":
            out = 255 - out
        elif op == "autocontrast":
            low, high = np.percentile(out, (1, 99))
            out = np.clip((out.astype(np.float32) - low) * 255.0 / max(1.0, high - low), 0, 255).astype(np.uint8)
        elif op == "rotate":
            out = rotate_image(out, float(rng.uniform(-90, 90)))
    return np.ascontiguousarray(out), chosen


@SYNTHESIZERS.register("draem")
class Draem(Synthesizer):
    """External texture, augmented, blended with opacity drawn from a range into a Perlin mask (DRAEM)."""

    Params = DraemParams

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._textures = TextureBank(self.params.texture_dir)

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        return PerlinMask(threshold=self.params.threshold)(shape, context, rng)

    def apply(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
              rng: np.random.Generator) -> SynthResult:
        assert mask is not None  # guaranteed by the build: uses_mask is True
        texture, texture_name = self._textures.draw(image.shape[:2], rng)
        texture, ops = augment_texture(texture, rng, self.params.augmentations)
        opacity = uniform(rng, self.params.opacity)
        out = blend_in_mask(image, texture, mask, opacity)
        return SynthResult(out, mask, {"texture": texture_name, "augmentations": ops,
                                       "opacity": round(opacity, 4)})
