"""The frozen diffusion model concept learning trains against: VAE, UNet, text encoder, tokenizer, scheduler.

Loaded with diffusers' ``from_pretrained`` (a Hub id in the local cache or a ``save_pretrained``
folder), every weight frozen. Also the inputs the UNet needs for one defect, computed once per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from anomset.concepts.spec import ConceptsSpec
from anomset.context import ShownDefect
from anomset.errors import RecipeError

FIX = "pass a diffusers inpainting pipeline: a save_pretrained folder (model_index.json) or a cached Hub id"
DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class Frozen:
    vae: Any
    unet: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    device: torch.device
    dtype: torch.dtype

    @property
    def inpainting(self) -> bool:
        """Whether the UNet takes the mask and masked-image latents (9 input channels)."""
        return int(self.unet.config.in_channels) == 9

    @property
    def dim(self) -> int:
        return int(self.text_encoder.get_input_embeddings().weight.shape[1])


def check_reference(model: str, field: str = "concepts.model") -> None:
    """A local folder must be a diffusers pipeline (one line otherwise); Hub ids are checked at load."""
    path = Path(model).expanduser()
    if path.exists() and not (path / "model_index.json").is_file():
        raise RecipeError(f"{model}: not a diffusers pipeline folder (no model_index.json)", field=field, fix=FIX)


def load_frozen(spec: ConceptsSpec, device: torch.device, dtype: torch.dtype) -> Frozen:
    """The base pipeline's parts on ``device``, frozen, in ``dtype``."""
    from diffusers import AutoPipelineForInpainting
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    check_reference(spec.model)
    diffusers_logging.disable_progress_bar()  # errors and the run's own lines only
    transformers_logging.disable_progress_bar()
    try:
        pipe = AutoPipelineForInpainting.from_pretrained(spec.model, revision=spec.revision, dtype=dtype,
                                                         safety_checker=None, requires_safety_checker=False)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RecipeError(f"{spec.model}: cannot load it as a diffusers inpainting pipeline: {first[:200]}",
                          field="concepts.model", fix=FIX) from None
    parts = [pipe.vae, pipe.unet, pipe.text_encoder]
    for part in parts:
        part.requires_grad_(False)
        part.eval()
        part.to(device)
    return Frozen(pipe.vae, pipe.unet, pipe.text_encoder, pipe.tokenizer, pipe.scheduler, device, dtype)


@dataclass
class DefectTensors:
    """Per shown defect, ready for the UNet: latents, masked-image latents, latent mask, mask for the encoder."""

    latents: torch.Tensor  # N×4×h×w (scaled)
    masked: torch.Tensor  # N×4×h×w
    latent_mask: torch.Tensor  # N×1×h×w in {0, 1}: where the loss counts
    masks: torch.Tensor  # N×1×S×S in [0, 1]: what the position encoder sees


def _square(array: np.ndarray, side: int, nearest: bool) -> np.ndarray:
    mode = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if array.shape[0] > side else cv2.INTER_LINEAR)
    return cv2.resize(array, (side, side), interpolation=mode)


def encode_masks(masks: list[np.ndarray], side: int) -> torch.Tensor:
    """Masks → ``N×1×side×side`` float in [0, 1] (area-averaged): the position encoder's input."""
    small = [cv2.resize((m > 0).astype(np.float32), (side, side), interpolation=cv2.INTER_AREA) for m in masks]
    return torch.from_numpy(np.stack(small))[:, None]


def defect_tensors(frozen: Frozen, defects: list[ShownDefect], resolution: int, mask_size: int) -> DefectTensors:
    """VAE latents (the distribution's mean: no sampling noise) of each defect and of its masked image."""
    images = np.stack([_square(d.image, resolution, False) for d in defects]).astype(np.float32) / 127.5 - 1.0
    masks = np.stack([_square((d.mask > 0).astype(np.uint8), resolution, True) for d in defects]).astype(np.float32)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(frozen.device, frozen.dtype)
    m = torch.from_numpy(masks)[:, None].to(frozen.device, frozen.dtype)
    scale = float(frozen.vae.config.scaling_factor)
    with torch.no_grad():
        latents = torch.cat([frozen.vae.encode(x[i:i + 1]).latent_dist.mean for i in range(len(x))]) * scale
        masked = torch.cat([frozen.vae.encode((x * (m < 0.5))[i:i + 1]).latent_dist.mean for i in range(len(x))])
    # Max pooling: a defect thinner than one latent cell still marks the cells it touches.
    latent_mask = torch.nn.functional.adaptive_max_pool2d(m.float(), latents.shape[-2:])
    return DefectTensors(latents.float(), (masked * scale).float(), latent_mask,
                         encode_masks([d.mask for d in defects], mask_size))
