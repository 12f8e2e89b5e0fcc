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

from anomset.configurable import StrictModel
from anomset.context import ClassPool, SampleContext
from anomset.diffusion.inpaint import InpaintSettings, draw_seed, inpaint, working_size
from anomset.diffusion.loading import DEFAULT_INPAINT_MODEL, LoadedPipeline, acquire_pipeline, release_pipeline
from anomset.features.params import BackboneReference
from anomset.masks.base import MaskResult
from anomset.masks.residual import align_to, nearest, residual_mask
from anomset.masks.shapes import EllipseMask
from anomset.ranges import PositiveRange, RatioRange
from anomset.synth.base import SynthResult
from anomset.synth.model_backed import BatchParams, ModelBackedSynthesizer


class ResidualParams(StrictModel):
    """``mask_source: residual``: the mask rebuilt from the difference to the nearest normal (ComGEN)."""

    backbone: BackboneReference = Field(default="microsoft/resnet-18", description="Hub id or save_pretrained folder")
    revision: str | None = Field(default=None, description="Hub revision of the backbone")
    layers: list[str | int] = Field(default_factory=lambda: ["stage2", "stage3"], min_length=1)
    image_size: int = Field(default=224, ge=16, le=2048, description="backbone input side")
    max_normals: int = Field(default=64, ge=1, le=100_000, description="normals searched, evenly spaced")
    threshold: float = Field(default=24.0, gt=0.0, le=255.0, description="blurred |difference| that counts, 0-255")
    blur: int = Field(default=3, ge=1, le=31, description="Gaussian blur side before thresholding")
    kernel: int = Field(default=3, ge=1, le=31, description="opening/closing ellipse side")
    min_area: int = Field(default=16, ge=1, le=1_000_000, description="smaller components are dropped (pixels)")


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
    mask_source: Literal["mask", "residual"] = Field(
        default="mask", description="mask: the inpainted mask as drawn; residual: where the result visibly differs "
                                    "from its nearest normal, inside it (ComGEN)")
    residual: ResidualParams | None = Field(default=None, description="with mask_source residual (default settings "
                                                                  "when left out)")
    area_ratio: RatioRange = Field(default=(0.005, 0.05), description="own (ellipse) mask area / image area")
    aspect_ratio: PositiveRange = Field(default=(0.4, 2.5), description="own mask width / height")

    @field_validator("model")
    @classmethod
    def _pipeline_reference(cls, value: str) -> str:
        from anomset.diffusion.loading import parse_pipeline_reference

        parse_pipeline_reference(value)  # a folder that is not a diffusers pipeline fails when the recipe loads
        return value


class InpaintingSynthesizer(ModelBackedSynthesizer):
    """Inpaint inside the mask with a diffusers pipeline; subclasses implement ``conditioning``.

    The pipeline is shared by every synthesizer of the process that loads the same model: never modify
    it (learned tokens go in as ``prompt_embeds`` from ``conditioning``).
    """

    Params = InpaintParams
    MODEL_PARAMS = ("model", "residual.backbone")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._residual: tuple[Any, list[np.ndarray], np.ndarray] | None = None  # backbone, normals, features

    def setup(self, pool: ClassPool, device: str = "cpu") -> None:
        """The pipeline and the class (``ModelBackedSynthesizer.setup``), then the residual search bank when
        ``mask_source: residual``: here, so subclasses that prepare their own class keep it."""
        super().setup(pool, device)
        if self.params.mask_source == "residual":
            self._prepare_residual(pool)

    def _prepare_residual(self, pool: ClassPool) -> None:
        from anomset.features.backbone import Backbone

        r = self.params.residual or ResidualParams()
        backbone = self._residual[0] if self._residual is not None else None
        if backbone is None or backbone.device != self.device:
            backbone = Backbone(r.backbone, revision=r.revision, layers=r.layers, image_size=r.image_size,
                                device=self.device or "cpu", field="residual.backbone")
        normals = pool.normal_images(r.max_normals)
        self._residual = (backbone, normals, _pooled(backbone, normals))

    def teardown(self) -> None:
        super().teardown()
        self._residual = None

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

    def apply_batch(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
                    contexts: Sequence[SampleContext], rngs: Sequence[np.random.Generator]) -> list[SynthResult]:
        """``ModelBackedSynthesizer.apply_batch``, then, with ``mask_source: residual``, each inpainted
        result's mask rebuilt from its residual (whatever ``synthesize_batch`` a subclass has)."""
        results = super().apply_batch(images, masks, contexts, rngs)
        if self.params.mask_source != "residual":
            return results
        made = [i for i, mask in enumerate(masks) if mask is not None and mask.any()]
        if made:
            rebuilt = self._residual_masks([images[i] for i in made], [results[i] for i in made])
            for i, result in zip(made, rebuilt, strict=True):
                results[i] = result
        return results

    def _residual_masks(self, images: Sequence[np.ndarray], results: list[SynthResult]) -> list[SynthResult]:
        """Each result's mask rebuilt from its residual to the nearest normal (inside the inpainted mask); the
        inpainted pixels left out of it are given back from the input, so the mask covers every change."""
        if self._residual is None:
            raise RuntimeError(f"{type(self).__name__}: mask_source residual needs setup(pool, device) first")
        backbone, normals, bank = self._residual
        r = self.params.residual or ResidualParams()
        picks = nearest(_pooled(backbone, [res.image for res in results]), bank)
        out = []
        for image, res, pick in zip(images, results, picks, strict=True):
            reference, shift = align_to(normals[int(pick)], res.image)
            mask = residual_mask(res.image, reference, threshold=r.threshold, blur=r.blur, kernel=r.kernel,
                                 min_area=r.min_area) & res.mask
            kept = np.where(mask[..., None] > 0, res.image, image)
            params = {**res.params, "mask_source": "residual", "residual_normal": int(pick), "residual_shift": shift,
                      "drawn_area": int(np.count_nonzero(res.mask))}
            out.append(SynthResult(kept, mask, params))
        return out


def _pooled(backbone: Any, images: Sequence[np.ndarray]) -> np.ndarray:
    """Globally averaged backbone features, one row per image (what ``nearest`` compares)."""
    return backbone.features(list(images)).mean(dim=(2, 3)).cpu().numpy()
