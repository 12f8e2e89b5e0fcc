"""Mask strategies: pure numpy/cv2 functions of (shape, context, rng)."""

from anomset.masks import perlin, shapes
from anomset.masks.base import MaskResult, MaskStrategy

__all__ = ["MaskResult", "MaskStrategy", "perlin", "shapes"]
