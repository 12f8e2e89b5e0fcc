"""Base for synthesizers that inpaint with a diffusers pipeline (``diffusion_text``, ``gaa``, ``anogen``).

A subclass says how a batch is conditioned (``conditioning``: a text prompt, learned tokens...); this
base loads the shared pipeline, draws each sample's seed from its rng, runs one pipeline call per batch
and pastes the result inside each mask, recording the sampler, seed and model in the sample's params.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from anomset.context import SampleContext
from anomset.diffusion.inpaint import InpaintSettings, draw_seed, inpaint, working_size
from anomset.diffusion.loading import DEFAULT_INPAINT_MODEL, LoadedPipeline, acquire_pipeline, release_pipeline
from anomset.masks.base import MaskResult
from anomset.masks.shapes import EllipseMask
from anomset.ranges import PositiveRange, RatioRange
from anomset.synth.base import SynthResult
from anomset.synth.model_backed import BatchParams, ModelBackedSynthesizer


class InpaintParams(BatchParams):
    """The base model, its loading options and the sampler."""

    model: str = Field(default=DEFAULT_INPAINT_MODEL,
                       description="diffusers inpainting pipeline: Hub id (locally cached) or save_pretrained folder")
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit)")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(default="float32",
                                                             description="float16 needs a GPU")
    cpu_offload: bool = Field(default=False, description="GPU only: keep idle pipeline parts on the CPU")
    steps: int = Field(default=30, ge=1, le=1000, description="denoising steps")
    guidance: float = Field(default=7.5, ge=0.0, le=100.0, description="classifier-free guidance scale")
    strength: float = Field(default=1.0, gt=0.0, le=1.0, description="1 = the masked area starts from pure noise")
    resolution: int | None = Field(default=None, ge=8, le=4096,
                                   description="working side (longer); default: the output size")
    area_ratio: RatioRange = Field(default=(0.005, 0.05), description="own (ellipse) mask area / image area")
    aspect_ratio: PositiveRange = Field(default=(0.4, 2.5), description="own mask width / height")

    @field_validator("model")
    @classmethod
    def _pipeline_reference(cls, value: str) -> str:
        from anomset.diffusion.loading import parse_pipeline_reference

        parse_pipeline_reference(value)  # a folder that is not a diffusers pipeline fails when the recipe loads
        return value


class InpaintingSynthesizer(ModelBackedSynthesizer):
    """Inpaint inside the mask with a diffusers pipeline; subclasses implement ``conditioning``."""

    Params = InpaintParams

    @property
    def settings(self) -> InpaintSettings:
        p = self.params
        return InpaintSettings(steps=p.steps, guidance=p.guidance, strength=p.strength, resolution=p.resolution)

    @property
    def pipeline(self) -> LoadedPipeline:
        return self.model

    def load(self, device: str) -> LoadedPipeline:
        from anomset.diffusion.loading import parse_pipeline_reference

        p = self.params
        ref = parse_pipeline_reference(p.model, p.revision)
        return acquire_pipeline(ref, device=device, dtype=p.dtype, cpu_offload=p.cpu_offload)

    def release(self, model: LoadedPipeline) -> None:
        release_pipeline(model)

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        ellipse = EllipseMask(area_ratio=self.params.area_ratio, aspect_ratio=self.params.aspect_ratio,
                              irregularity=0.4)
        return ellipse(shape, context, rng)

    def conditioning(self, contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]
                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(pipeline keyword arguments for the batch, what each sample records about its conditioning)."""
        raise NotImplementedError

    def synthesize_batch(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                         contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]
                         ) -> list[SynthResult]:
        loaded = self.pipeline
        seeds = [draw_seed(rng) for rng in rngs]
        kwargs, recorded = self.conditioning(contexts, rngs)
        settings = self.settings
        made = inpaint(loaded.pipe, images, masks, seeds, settings,  # type: ignore[arg-type]
                       grayscale=[c.grayscale for c in contexts], **kwargs)
        size = working_size(images[0].shape[:2], settings.resolution, int(getattr(loaded.pipe, "vae_scale_factor", 8)))
        model = {k: loaded.provenance[k] for k in ("model", "revision", "commit", "weights_sha256")
                 if k in loaded.provenance}
        common = {**settings.record(), "size": list(size), "dtype": loaded.dtype, **model}
        return [SynthResult(image, mask, {**own, "seed": seed, **common})  # type: ignore[arg-type]
                for image, mask, own, seed in zip(made, masks, recorded, seeds, strict=True)]
