"""Mask strategies: pure numpy/cv2 functions of (shape, context, rng)."""

from anomset.masks import foreground, geometric, perlin, region, shapes
from anomset.masks.base import MaskResult, MaskStrategy

__all__ = ["MaskResult", "MaskStrategy", "foreground", "geometric", "perlin", "region", "shapes"]
