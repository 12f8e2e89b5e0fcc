"""CutPaste (Li et al., CVPR 2021): a patch of the image, colour-jittered, pasted elsewhere."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import MaskResult
from anomset.masks.shapes import RectangleMask
from anomset.ranges import PositiveRange, RatioRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.color import color_jitter
from anomset.synth.patching import draw_far_point, mask_box, paste_in_mask


class JitterParams(StrictModel):
    """Colour jitter of the pasted content and how far it must come from (CutPaste and its scar)."""

    brightness: float = Field(default=0.1, ge=0, le=1)
    contrast: float = Field(default=0.1, ge=0, le=1)
    saturation: float = Field(default=0.1, ge=0, le=1)
    hue: float = Field(default=0.1, ge=0, le=0.5)
    min_shift: float = Field(default=0.1, ge=0, le=1, description="min source→target distance / image side")


class CutPasteParams(JitterParams):
    area_ratio: RatioRange = Field(default=(0.02, 0.15), description="patch area / image area (own mask only)")
    aspect_ratio: PositiveRange = Field(default=(0.3, 3.3), description="patch width / height (own mask only)")


def paste_from_elsewhere(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                         min_shift: float) -> tuple[np.ndarray, list[int]]:
    """Content for the mask's bounding box taken from a randomly shifted box of the same image."""
    h, w = mask.shape
    y0, y1, x0, x1 = mask_box(mask)
    bh, bw = y1 - y0, x1 - x0
    sy, sx = draw_far_point(rng, (0, h - bh), (0, w - bw), (y0, x0), min_shift * min(h, w))
    return image[sy:sy + bh, sx:sx + bw], [sx, sy]


def jitter(patch: np.ndarray, rng: np.random.Generator, params: JitterParams) -> tuple[np.ndarray, dict[str, float]]:
    """``color_jitter`` with the strengths of ``params``."""
    return color_jitter(patch, rng, params.brightness, params.contrast, params.saturation, params.hue)


@SYNTHESIZERS.register("cutpaste")
class CutPaste(Synthesizer):
    """A rectangular patch of the image, colour-jittered and pasted elsewhere (CutPaste)."""

    Params = CutPasteParams

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        rect = RectangleMask(area_ratio=self.params.area_ratio, aspect_ratio=self.params.aspect_ratio)
        return rect(shape, context, rng)

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        p = self.params
        patch, origin = paste_from_elsewhere(image, mask, rng, p.min_shift)
        patch, factors = jitter(patch, rng, p)
        out = paste_in_mask(image, mask, patch, mask_box(mask))
        return SynthResult(out, mask, {"patch_origin": origin, **factors})
