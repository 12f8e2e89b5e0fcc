"""What the feature-based detectors share: backbone params, loading through ``anomset.features``, and
turning patch-score grids into smoothed full-size maps.

The backbone is always ``anomset.features.backbone.Backbone`` (transformers ``from_pretrained`` by Hub
id or folder); nothing here extracts features another way.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from anomset.evaluate.detectors.base import resolve_device
from anomset.features.params import PatchBackboneParams

if TYPE_CHECKING:
    import torch

    from anomset.features.backbone import Backbone


class PatchFeatureParams(PatchBackboneParams):
    """The frozen backbone and how its patch features are taken (shared by memory_bank and dual_memory)."""

    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto", description="backbone dtype; auto = bfloat16 on a GPU, float32 on the CPU")
    batch_size: int = Field(default=16, ge=1, le=4096, description="images per backbone call")
    smoothing_sigma: float = Field(default=4.0, ge=0, le=64, description="Gaussian σ of the maps (px at image_size)")
    seed: int = Field(default=0, ge=0)
    device: str = Field(default="auto", description="auto (GPU when present), cpu, cuda, cuda:N")


def load_backbone(params: PatchFeatureParams, field: str) -> Backbone:
    """The frozen feature extractor the params describe, on their device."""
    from anomset.features.backbone import Backbone

    device = resolve_device(params.device)
    dtype = params.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return Backbone(params.backbone, revision=params.revision, layers=params.layers, image_size=params.image_size,
                    pool=params.pool, device=device, dtype=dtype, batch_size=params.batch_size, field=field)


def layer_features(backbone: Backbone, images: Any) -> list[torch.Tensor]:
    """Each chosen layer as its own locally averaged ``N×C×h×w`` map (one backbone pass per batch)."""
    import torch

    with torch.no_grad():
        per_batch = [[backbone.combine([m]) for m in backbone.batch_maps(batch)] for batch in backbone.batches(images)]
    return [torch.cat(parts) for parts in zip(*per_batch, strict=True)]


def as_patches(grid: torch.Tensor) -> torch.Tensor:
    """``N×C×h×w`` → ``(N·h·w)×C`` rows (image-major, then row-major over the grid)."""
    return grid.permute(0, 2, 3, 1).reshape(-1, grid.shape[1])


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of ``N×H×W`` maps (truncated at 4σ, reflected borders, as scipy's)."""
    import torch
    import torch.nn.functional as F

    if sigma <= 0:
        return maps
    radius = max(1, math.ceil(4 * sigma))
    radius = min(radius, maps.shape[-1] - 1, maps.shape[-2] - 1)
    if radius < 1:
        return maps
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=maps.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    out = F.pad(maps[:, None].float(), (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1))
    out = F.conv2d(out, kernel.view(1, 1, -1, 1))
    return out[:, 0]


def full_size_maps(grid_scores: torch.Tensor, image_size: int, out_size: tuple[int, int],
                   sigma: float) -> torch.Tensor:
    """Patch scores ``N×h×w`` → bilinear to ``image_size``, Gaussian-smoothed, bilinear to ``out_size``."""
    import torch.nn.functional as F

    maps = F.interpolate(grid_scores[:, None].float(), size=(image_size, image_size), mode="bilinear",
                         align_corners=False)[:, 0]
    maps = gaussian_blur(maps, sigma)
    if tuple(out_size) != (image_size, image_size):
        maps = F.interpolate(maps[:, None], size=tuple(out_size), mode="bilinear", align_corners=False)[:, 0]
    return maps
