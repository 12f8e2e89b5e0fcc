"""CutPaste (Li et al., CVPR 2021): a patch of the image, colour-jittered, pasted elsewhere."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import MaskResult
from anomset.masks.shapes import RectangleMask
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.color import color_jitter

Range = tuple[float, float]


class CutPasteParams(StrictModel):
    area_ratio: Range = Field(default=(0.02, 0.15), description="patch area / image area (own mask only)")
    aspect_ratio: Range = Field(default=(0.3, 3.3), description="patch width / height (own mask only)")
    brightness: float = Field(default=0.1, ge=0, le=1)
    contrast: float = Field(default=0.1, ge=0, le=1)
    saturation: float = Field(default=0.1, ge=0, le=1)
    hue: float = Field(default=0.1, ge=0, le=0.5)
    min_shift: float = Field(default=0.1, ge=0, le=1, description="min source→target distance / image side")


def paste_from_elsewhere(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                         min_shift: float) -> tuple[np.ndarray, list[int]]:
    """Content for the mask's bounding box taken from a randomly shifted box of the same image."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    bh, bw = y1 - y0, x1 - x0
    need = min_shift * min(h, w)
    for _ in range(16):
        sy, sx = int(rng.integers(h - bh + 1)), int(rng.integers(w - bw + 1))
        if np.hypot(sy - y0, sx - x0) >= need:
            break
    return image[sy:sy + bh, sx:sx + bw], [sx, sy]


@SYNTHESIZERS.register("cutpaste")
class CutPaste(Synthesizer):
    """A rectangular patch of the image, colour-jittered and pasted elsewhere (CutPaste)."""

    Params = CutPasteParams

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        rect = RectangleMask(area_ratio=self.params.area_ratio, aspect_ratio=self.params.aspect_ratio)
        return rect(shape, context, rng)

    def apply(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
              rng: np.random.Generator) -> SynthResult:
        assert mask is not None  # guaranteed by the build: uses_mask is True
        p = self.params
        patch, origin = paste_from_elsewhere(image, mask, rng, p.min_shift)
        patch, jitter = color_jitter(patch, rng, p.brightness, p.contrast, p.saturation, p.hue)
        ys, xs = np.nonzero(mask)
        y0, x0 = int(ys.min()), int(xs.min())
        out = image.copy()
        out[ys, xs] = patch[ys - y0, xs - x0]
        return SynthResult(out, mask, {"patch_origin": origin, **jitter})
