"""Inpaint inside masks with a loaded diffusers pipeline, then paste back so nothing outside a mask changes.

The pipeline works at a size that is a multiple of its VAE's scale factor (8 for Stable Diffusion);
images are resized to it, generated there, resized back, and only the masked pixels are taken from the
result: the VAE round trip alters every pixel a little, the paste keeps the rest of the normal image
bit-identical. Seeds are per sample (one CPU ``torch.Generator`` each, so a GPU run draws the same noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from anomset.synth.color import luminance_rgb

SEED_BOUND = 2**63 - 1


@dataclass(frozen=True)
class InpaintSettings:
    """The sampler's knobs, the same for every sample of a call (recorded in each sample's json)."""

    steps: int = 30
    guidance: float = 7.5
    strength: float = 1.0
    resolution: int | None = None  # working side; None: the image size rounded down to the VAE multiple

    def record(self) -> dict[str, Any]:
        return {"steps": self.steps, "guidance": self.guidance, "strength": self.strength}


def draw_seed(rng: np.random.Generator) -> int:
    """The sample's diffusion seed, drawn from its own generator."""
    return int(rng.integers(SEED_BOUND))


def vae_multiple(pipe: Any) -> int:
    """The side multiple the pipeline needs (its VAE's downscaling factor)."""
    return int(getattr(pipe, "vae_scale_factor", 8))


def working_size(shape: tuple[int, int], resolution: int | None, multiple: int) -> tuple[int, int]:
    """(h, w) the pipeline runs at: the image size (or ``resolution`` on the longer side), in VAE multiples."""
    h, w = shape
    if resolution is not None:
        scale = resolution / max(h, w)
        h, w = round(h * scale), round(w * scale)
    return max(multiple, h // multiple * multiple), max(multiple, w // multiple * multiple)


def _resize(array: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    h, w = size
    if array.shape[:2] == (h, w):
        return array
    if nearest:
        mode = cv2.INTER_NEAREST
    else:
        mode = cv2.INTER_AREA if array.shape[0] * array.shape[1] > h * w else cv2.INTER_LINEAR
    return cv2.resize(array, (w, h), interpolation=mode)


def pipeline_inputs(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], size: tuple[int, int]
                    ) -> tuple[list[Any], list[Any]]:
    """PIL images and masks at the working size: what ``pipe(image=..., mask_image=...)`` takes."""
    from PIL import Image

    pil_images = [Image.fromarray(np.ascontiguousarray(_resize(image, size))) for image in images]
    pil_masks = [Image.fromarray(np.ascontiguousarray(_resize(mask, size, nearest=True))) for mask in masks]
    return pil_images, pil_masks


def generators(seeds: Sequence[int]) -> list[Any]:
    """One CPU torch generator per sample (diffusers draws its noise on the CPU, then moves it)."""
    import torch

    return [torch.Generator(device="cpu").manual_seed(seed) for seed in seeds]


def run_pipeline(pipe: Any, pil_images: list[Any], pil_masks: list[Any], seeds: Sequence[int],
                 settings: InpaintSettings, size: tuple[int, int], **conditioning: Any) -> np.ndarray:
    """The bare pipeline call on prepared inputs: float ``N×h×w×3`` in [0, 1].

    ``conditioning`` is ``prompt=`` (and ``negative_prompt=``) for a text prompt, or ``prompt_embeds=``
    (and ``negative_prompt_embeds=``) for learned tokens.
    """
    import torch

    with torch.inference_mode():
        out = pipe(image=pil_images, mask_image=pil_masks, height=size[0], width=size[1],
                   num_inference_steps=settings.steps, guidance_scale=settings.guidance, strength=settings.strength,
                   generator=generators(seeds), output_type="np", **conditioning)
    return np.asarray(out.images)


def to_uint8(generated: np.ndarray) -> np.ndarray:
    """[0, 1] floats → uint8, rounded."""
    return np.clip(np.rint(generated * 255.0), 0, 255).astype(np.uint8)


def paste_inside(image: np.ndarray, generated: np.ndarray, mask: np.ndarray, grayscale: bool = False) -> np.ndarray:
    """``image`` with the masked pixels taken from ``generated`` (resized to it); the rest bit-identical.

    ``grayscale``: the class is grey, so the pasted content is made grey too (no colour cue).
    """
    generated = _resize(generated, image.shape[:2])
    if grayscale:
        generated = luminance_rgb(generated)
    out = image.copy()
    inside = mask > 0
    out[inside] = generated[inside]
    return out


def inpaint(pipe: Any, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], seeds: Sequence[int],
            settings: InpaintSettings, grayscale: Sequence[bool] | None = None, **conditioning: Any
            ) -> list[np.ndarray]:
    """Each image inpainted inside its mask (uint8 H×W×3, same size as given), pixels outside the mask unchanged.

    The images of one call must share a size (a build's always do).
    """
    size = working_size(images[0].shape[:2], settings.resolution, vae_multiple(pipe))
    pil_images, pil_masks = pipeline_inputs(images, masks, size)
    generated = to_uint8(run_pipeline(pipe, pil_images, pil_masks, seeds, settings, size, **conditioning))
    grey = grayscale if grayscale is not None else [False] * len(images)
    return [paste_inside(image, made, mask, g) for image, made, mask, g in zip(images, generated, masks, grey,
                                                                               strict=True)]
