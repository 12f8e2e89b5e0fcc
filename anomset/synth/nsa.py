"""NSA, Natural Synthetic Anomalies (Schlüter et al., ECCV 2022): patches of another normal image of
the class, resized, Poisson-blended into the image (``cv2.seamlessClone``)."""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import MaskResult, uniform
from anomset.masks.shapes import RectangleMask
from anomset.ranges import CountRange, PositiveRange, RatioRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.change import keep_visible_change
from anomset.synth.patching import mask_box

CLONE_FLAGS = {"normal": cv2.NORMAL_CLONE, "mixed": cv2.MIXED_CLONE}
# Context kept around each patch: seamlessClone needs the (dilated) mask one pixel inside its image.
_MARGIN = 2


class NsaParams(StrictModel):
    patches: CountRange = Field(default=(1, 3), description="number of rectangles (own mask)")
    area_ratio: RatioRange = Field(default=(0.01, 0.06), description="area of each rectangle / image area (own mask)")
    aspect_ratio: PositiveRange = Field(default=(0.3, 3.3), description="rectangle width / height (own mask)")
    scale: PositiveRange = Field(default=(0.7, 1.4), description="patch resize factor (source crop = target / scale)")
    max_shift: float = Field(default=0.25, ge=0, le=1, description="source offset from the target / image side")
    mode: Literal["normal", "mixed", "either"] = Field(default="either", description="seamlessClone mode")
    change_tolerance: int = Field(default=6, ge=0, le=254, description="grey levels a pixel must change to be masked")
    cleanup: int = Field(default=3, ge=0, le=15, description="morphological kernel cleaning the mask (0: none)")


def crop_padded(image: np.ndarray, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` where the box may leave the image: missing rows/columns replicate the edge."""
    h, w = image.shape[:2]
    top, left, bottom, right = max(0, -y0), max(0, -x0), max(0, y1 - h), max(0, x1 - w)
    crop = image[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
    if top or left or bottom or right:
        crop = cv2.copyMakeBorder(crop, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop)


def poisson_patch(target: np.ndarray, patch: np.ndarray, shape_mask: np.ndarray, box: tuple[int, int, int, int],
                  flag: int) -> np.ndarray:
    """``patch`` Poisson-blended into ``target`` over the box (x, y, w, h), shaped by ``shape_mask``
    (box-sized, uint8); returns the blended box-sized content (to be kept inside ``shape_mask``).

    Works on a small padded window, so boxes touching the image border and 1-pixel masks are fine.
    """
    x, y, w, h = box
    m = _MARGIN
    dst = crop_padded(target, y - m, y + h + m, x - m, x + w + m)
    src = dst.copy()
    src[m:m + h, m:m + w] = patch
    clone_mask = np.zeros(dst.shape[:2], np.uint8)
    clone_mask[m:m + h, m:m + w] = shape_mask
    # One pixel of growth keeps every patch pixel off the ROI border, where seamlessClone pins values
    # to the destination; its bounding box then starts at (m - 1, m - 1).
    clone_mask = cv2.dilate(clone_mask, np.ones((3, 3), np.uint8))
    center = (m - 1 + (w + 2) // 2, m - 1 + (h + 2) // 2)
    blended = cv2.seamlessClone(src, dst, clone_mask, center, flag)
    return blended[m:m + h, m:m + w]


@SYNTHESIZERS.register("nsa")
class Nsa(Synthesizer):
    """Patches of another normal image, resized and Poisson-blended (NSA); mask = where it changed."""

    Params = NsaParams

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        p = self.params
        rect = RectangleMask(area_ratio=p.area_ratio, aspect_ratio=p.aspect_ratio)
        count = int(rng.integers(p.patches[0], p.patches[1] + 1))
        mask = np.zeros(shape, np.uint8)
        drawn = []
        for _ in range(count):
            result = rect(shape, context, rng)
            mask |= result.mask
            drawn.append(result.params)
        return MaskResult(mask, {"rectangles": drawn})

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        p = self.params
        h, w = image.shape[:2]
        if context.pool is not None:
            source, source_name = context.pool.other_normal(rng), "other_normal"
        else:
            source, source_name = image, "same_image"
        if source.shape[:2] != (h, w):
            source = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
        mode = ("normal", "mixed")[int(rng.integers(2))] if p.mode == "either" else p.mode
        by0, by1, bx0, bx1 = mask_box(mask)  # components are labelled in the mask's box only
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask[by0:by1, bx0:bx1], connectivity=8)
        blended = image.copy()
        patches: list[dict[str, Any]] = []
        for label in range(1, count):
            lx, ly, bw, bh = (int(v) for v in stats[label, :4])
            x, y = bx0 + lx, by0 + ly
            scale = uniform(rng, p.scale)
            sw, sh = min(w, max(1, round(bw / scale))), min(h, max(1, round(bh / scale)))
            shift = rng.uniform(-p.max_shift, p.max_shift, 2) * min(h, w)
            sx = int(np.clip(round(x + bw / 2 + shift[0] - sw / 2), 0, w - sw))
            sy = int(np.clip(round(y + bh / 2 + shift[1] - sh / 2), 0, h - sh))
            patch = cv2.resize(source[sy:sy + sh, sx:sx + sw], (bw, bh), interpolation=cv2.INTER_LINEAR)
            shape_mask = np.where(labels[ly:ly + bh, lx:lx + bw] == label, np.uint8(255), np.uint8(0))
            content = poisson_patch(blended, patch, shape_mask, (x, y, bw, bh), CLONE_FLAGS[mode])
            np.copyto(blended[y:y + bh, x:x + bw], content, where=(shape_mask > 0)[..., None])
            patches.append({"box": [x, y, bw, bh], "source_box": [sx, sy, sw, sh], "scale": round(scale, 4)})
        out, changed = keep_visible_change(image, blended, mask, p.change_tolerance, p.cleanup)
        return SynthResult(out, changed, {"source": source_name, "mode": mode, "patches": patches})
