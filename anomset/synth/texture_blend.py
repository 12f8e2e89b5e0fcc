"""Texture anomalies of the AAAI-24 augmentation framework (Lin et al., "A comprehensive augmentation
framework for anomaly detection"): a texture blended into a Perlin mask, I_a = (1-β)·I + β·T (eq. 1).

``transparent`` draws β from a range; ``opaque`` is the same with β = 1 (the texture replaces the
pixels). Both share ``TextureBlend``; they differ only in how β is chosen.

On a grayscale class (``context.grayscale``) the texture is brought to its luminance in all three
channels, so the output stays R = G = B. ``match_fill`` optionally gives the texture the mean (and
contrast) of the pixels it covers, for fills that read as the same material gone wrong rather
than a foreign object.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.masks.base import MaskResult, uniform
from anomset.masks.perlin import PerlinMask
from anomset.ranges import UnitRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.color import blend_in_box, luminance_rgb, match_fill
from anomset.synth.patching import mask_box
from anomset.synth.texture_augment import augment_texture
from anomset.synth.textures import TextureBank


class TextureBlendParams(StrictModel):
    texture_dir: str | None = Field(default=None, description="folder of texture images (default: built-in)")
    threshold: float = Field(default=0.5, ge=-1.0, le=1.0, description="Perlin threshold (own mask)")
    augmentations: int = Field(default=0, ge=0, le=6, description="random DRAEM texture augmentations")
    match_fill: Literal["none", "mean", "mean_std"] = Field(
        default="none", description="match the texture's mean (and std) to the pixels it covers")


class TransparentParams(TextureBlendParams):
    beta: UnitRange = Field(default=(0.15, 0.85), description="texture weight β in the blend")


class TextureBlend(Synthesizer):
    """Common body of texture anomalies (DRAEM, transparent, opaque): own Perlin mask, an augmented
    texture under the mask, blended with a weight that each method draws its own way."""

    Params = TextureBlendParams
    LOCATION_PARAMS = ("texture_dir",)
    weight_name: ClassVar[str] = "beta"  # the key of the drawn weight in the sample's json

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._textures = TextureBank(self.params.texture_dir)

    def weight(self, rng: np.random.Generator) -> float:
        """The texture weight of this sample."""
        raise NotImplementedError

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        return PerlinMask(threshold=self.params.threshold)(shape, context, rng)

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        box = mask_box(mask)  # texture work only where it is seen
        drawn = self._textures.draw(image.shape[:2], rng, box)
        texture, ops = augment_texture(drawn.image, rng, self.params.augmentations)
        if context.grayscale:
            texture = luminance_rgb(texture)
        y0, y1, x0, x1 = box
        texture = match_fill(texture, image[y0:y1, x0:x1], np.ascontiguousarray(mask[y0:y1, x0:x1]),
                             self.params.match_fill, context.grayscale)
        weight = self.weight(rng)
        out = blend_in_box(image, texture, mask, weight, box)
        return SynthResult(out, mask, {"texture": drawn.name, "texture_family": drawn.family,
                                       "augmentations": ops, self.weight_name: round(weight, 4)})


@SYNTHESIZERS.register("transparent")
class Transparent(TextureBlend):
    """A texture blended into a Perlin mask with β drawn from a range (AAAI-24 transparent anomaly)."""

    Params = TransparentParams

    def weight(self, rng: np.random.Generator) -> float:
        return uniform(rng, self.params.beta)


@SYNTHESIZERS.register("opaque")
class Opaque(TextureBlend):
    """A texture replacing the pixels of a Perlin mask, β = 1 (AAAI-24 opaque anomaly)."""

    def weight(self, rng: np.random.Generator) -> float:
        return 1.0
