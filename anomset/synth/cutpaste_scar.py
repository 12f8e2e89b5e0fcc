"""CutPaste-scar (Li et al., CVPR 2021): a thin strip of the image, colour-jittered, rotated and
pasted elsewhere."""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import Field

from anomset.context import SampleContext
from anomset.masks.base import MaskResult
from anomset.masks.shapes import ScarMask
from anomset.ranges import AngleRange, RatioRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.cutpaste import JitterParams, jitter
from anomset.synth.patching import draw_far_point, mask_box, paste_in_mask


class CutPasteScarParams(JitterParams):
    width: RatioRange = Field(default=(0.008, 0.0625), description="scar width / shorter image side (own mask)")
    length: RatioRange = Field(default=(0.04, 0.1), description="scar length / shorter image side (own mask)")
    rotation: AngleRange = Field(default=(-45.0, 45.0), description="degrees (own mask)")


def major_axis_angle(mask: np.ndarray) -> float:
    """Angle in radians of the mask's long axis from the x axis (image coordinates, y down)."""
    m = cv2.moments(mask, binaryImage=True)
    return 0.5 * math.atan2(2.0 * m["mu11"], m["mu20"] - m["mu02"])


def strip_from_elsewhere(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                         min_shift: float) -> tuple[np.ndarray, dict[str, object]]:
    """Content for the mask's bounding box: an upright strip cut elsewhere in the image and turned so
    that its long side follows the mask's long axis (CutPaste cuts the scar upright, then rotates it)."""
    h, w = mask.shape
    y0, y1, x0, x1 = mask_box(mask)
    local = mask[y0:y1, x0:x1]
    m = cv2.moments(local, binaryImage=True)
    cy, cx = m["m01"] / m["m00"], m["m10"] / m["m00"]  # centroid in window coordinates
    # Rotation taking the mask's long axis onto the source's vertical axis.
    turn = math.pi / 2 - major_axis_angle(local)
    rot = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    ys, xs = np.nonzero(local)
    offsets = rot @ np.stack([xs - cx, ys - cy])
    reach_x, reach_y = (math.ceil(v) + 1 for v in np.abs(offsets).max(axis=1))
    sy, sx = draw_far_point(rng, (min(reach_y, h // 2), max(h - 1 - reach_y, h // 2)),
                            (min(reach_x, w // 2), max(w - 1 - reach_x, w // 2)),
                            (y0 + cy, x0 + cx), min_shift * min(h, w))
    # Inverse map: window pixel p → source pixel rot·(p - centroid) + source centre.
    matrix = np.hstack([rot, (np.array([sx, sy]) - rot @ np.array([cx, cy]))[:, None]])
    strip = cv2.warpAffine(image, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REFLECT_101)
    return strip, {"source_center": [sx, sy], "content_rotation": round(math.degrees(turn), 4)}


@SYNTHESIZERS.register("cutpaste_scar")
class CutPasteScar(Synthesizer):
    """A thin strip of the image, colour-jittered, turned along the scar and pasted elsewhere (CutPaste-scar)."""

    Params = CutPasteScarParams

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        p = self.params
        return ScarMask(width=p.width, length=p.length, rotation=p.rotation)(shape, context, rng)

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        strip, placed = strip_from_elsewhere(image, mask, rng, self.params.min_shift)
        strip, factors = jitter(strip, rng, self.params)
        out = paste_in_mask(image, mask, strip, mask_box(mask))
        return SynthResult(out, mask, {**placed, **factors})
