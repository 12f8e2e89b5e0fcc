"""Rotation of the AAAI-24 augmentation framework (Lin et al.): the whole object turned about its
foreground centre. An anomaly for classes with a fixed orientation (mask: where the rotated object
differs from the original); for classes that may rotate, the recipe's ``label: normal`` keeps the
output as an extra normal sample instead."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import uniform
from anomset.ranges import Domain, range_type
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.change import change_map

MagnitudeRange = range_type(Domain(0.0, 360.0))


class RotationParams(StrictModel):
    angle: MagnitudeRange = Field(default=(15.0, 180.0), description="rotation magnitude in degrees")
    both_directions: bool = Field(default=True, description="turn clockwise or counter-clockwise at random")
    change_tolerance: int = Field(default=16, ge=0, le=254, description="grey levels a pixel must change to be masked")
    cleanup: int = Field(default=5, ge=0, le=31, description="closing kernel filling pinholes in the mask (0: none)")


def foreground_center(foreground: np.ndarray) -> tuple[float, float]:
    """Centroid (x, y) of the foreground; the image centre when it is empty."""
    m = cv2.moments(foreground, binaryImage=True)
    if m["m00"] == 0:
        return (foreground.shape[1] - 1) / 2.0, (foreground.shape[0] - 1) / 2.0
    return m["m10"] / m["m00"], m["m01"] / m["m00"]


def background_estimate(image: np.ndarray, foreground: np.ndarray) -> np.ndarray | None:
    """A smooth guess of the background behind the foreground (uint8), or None without background.

    Normalised convolution at 1/16 scale: the background's colour and lighting, spread into the
    object's area, so the place a turned object uncovers shows background rather than a ghost.
    """
    background = (foreground == 0).astype(np.float32)
    if not background.any():
        return None
    h, w = foreground.shape
    small = (max(4, w // 16), max(4, h // 16))
    weight = cv2.resize(background, small, interpolation=cv2.INTER_AREA)
    total = cv2.resize(image.astype(np.float32) * background[..., None], small, interpolation=cv2.INTER_AREA)
    sigma = max(small) / 4.0
    weight = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    total = cv2.GaussianBlur(total, (0, 0), sigma)
    estimate = total / np.maximum(weight, 1e-6)
    return np.clip(cv2.resize(estimate, (w, h), interpolation=cv2.INTER_LINEAR), 0, 255).astype(np.uint8)


@SYNTHESIZERS.register("rotation")
class Rotation(Synthesizer):
    """The object rotated about its foreground centre; mask = where it changed (AAAI-24 rotation, global)."""

    Params = RotationParams
    uses_mask = False

    def outside_tolerance(self) -> int:
        return self.params.change_tolerance

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        p = self.params
        h, w = image.shape[:2]
        angle = uniform(rng, p.angle)
        if p.both_directions and rng.random() < 0.5:
            angle = -angle
        cx, cy = foreground_center(context.foreground)
        matrix = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        rotated = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        turned_fg = cv2.warpAffine(context.foreground, matrix, (w, h), flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        # The object with its soft rim (anti-aliased edge, shadow) that foreground masks miss.
        rim = np.ones((5, 5), np.uint8)
        was, now = cv2.dilate(context.foreground, rim), cv2.dilate(turned_fg, rim)
        # Change is allowed where the object was or now is: the background elsewhere keeps its
        # original pixels rather than a turned copy of its noise and lighting.
        allowed = was | now
        out = image.copy()
        uncovered = was & ~now
        fill = background_estimate(image, was)
        if fill is not None:
            cv2.copyTo(fill, uncovered, rotated)
        cv2.copyTo(rotated, allowed, out)
        # The whole turned object is kept (a rotated normal must stay coherent when the recipe
        # labels it normal), so the mask is every pixel that changed by more than the tolerance,
        # with pinholes closed; pixels outside it changed by at most change_tolerance.
        changed = np.where(change_map(image, out) > p.change_tolerance, np.uint8(255), np.uint8(0))
        if p.cleanup > 1:
            element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (p.cleanup, p.cleanup))
            changed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, element) & allowed
        return SynthResult(out, changed, {"angle": round(angle, 4), "center": [round(cx, 3), round(cy, 3)],
                                          "scope": "global"})
