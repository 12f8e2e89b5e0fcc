"""DRAEM (Zavrtanik et al., ICCV 2021): an external texture, augmented, blended into a Perlin-noise mask."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from anomset.masks.base import uniform
from anomset.ranges import UnitRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.texture_blend import TextureBlend, TextureBlendParams


class DraemParams(TextureBlendParams):
    texture_dir: str | None = Field(default=None, description="folder of texture images (e.g. DTD)")
    opacity: UnitRange = Field(default=(0.2, 1.0), description="texture weight in the blend")
    augmentations: int = Field(default=3, ge=0, le=6, description="random texture augmentations")


@SYNTHESIZERS.register("draem")
class Draem(TextureBlend):
    """External texture, augmented, blended with opacity drawn from a range into a Perlin mask (DRAEM)."""

    Params = DraemParams
    weight_name = "opacity"

    def weight(self, rng: np.random.Generator) -> float:
        return uniform(rng, self.params.opacity)
