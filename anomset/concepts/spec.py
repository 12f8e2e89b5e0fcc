"""The recipe's ``concepts:`` section: where few-shot concepts live, how they are clustered and learned.

Pure pydantic (no torch): it is validated with the recipe. ``dir`` is a location (out of the data
hash); everything else decides what ``cluster`` and ``learn`` produce, so it is in the data hash and
in the hashes that checkpoints carry (``identity``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from anomset.configurable import StrictModel
from anomset.features.params import BackboneReference

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
DEFAULT_VIT = "google/vit-base-patch16-224-in21k"
METHODS = ("gaa", "anogen")


class ClusterSpec(StrictModel):
    """Adaptive multi-round clustering of a class's shown real defects."""

    backbone: BackboneReference = Field(default=DEFAULT_VIT, description="ViT Hub id or save_pretrained folder")
    revision: str | None = None
    layers: list[str | int] = Field(default_factory=lambda: ["stage4", "stage8", "stage12"], min_length=1,
                                    description="ViT layers pooled inside the mask (several depths)")
    image_size: int = Field(default=224, ge=16, le=1024, description="side of the defect crop fed to the ViT")
    margin: float = Field(default=0.25, ge=0.0, le=4.0, description="context around the mask box, x box side")
    k_max: int = Field(default=8, ge=2, le=64, description="largest k tried by KMeans")
    max_rounds: int = Field(default=3, ge=1, le=10, description="rounds of splitting dense clusters")
    vit_weight: float = Field(default=1.0, ge=0.0)
    lab_weight: float = Field(default=1.0, ge=0.0)
    lbp_weight: float = Field(default=1.0, ge=0.0)
    lbp_points: int = Field(default=8, ge=4, le=24)
    lbp_radius: float = Field(default=1.0, gt=0.0, le=8.0)
    seed: int = 0
    device: str = Field(default="auto", description="auto (cuda when present), cpu, cuda...")


class LearnSpec(StrictModel):
    """Concept learning on the frozen inpainting model (textual inversion with a position encoder)."""

    feature_tokens: int = Field(default=8, ge=1, le=32, description="learned tokens per cluster (gaa)")
    position_tokens: int = Field(default=4, ge=1, le=16, description="tokens the position encoder makes (gaa)")
    anogen_tokens: int = Field(default=1, ge=1, le=32, description="learned tokens per defect type (anogen)")
    prompt: str = Field(default="a photo of", description="words before the learned tokens")
    steps: int = Field(default=2000, ge=1, le=10_000_000)
    batch_size: int = Field(default=4, ge=1, le=1024, description="global batch (split over the ranks)")
    micro_batch: int | None = Field(default=None, ge=1, le=1024,
                                    description="samples per forward pass (default: batch_size); the ranks share "
                                                "the batch_size / micro_batch micro-batches of a step")
    lr: float = Field(default=5e-3, gt=0.0, le=10.0, description="AdamW learning rate, no weight decay")
    resolution: int = Field(default=512, ge=16, le=2048, description="side the defect images are trained at")
    mask_size: int = Field(default=64, ge=16, le=512, description="side of the mask the position encoder sees")
    init_word: str = Field(default="defect", min_length=1, description="learned tokens start at this word's embedding")
    init_std: float = Field(default=0.01, gt=0.0, le=1.0, description="noise added to that start, per token")
    save_every: int = Field(default=100, ge=1, le=10_000_000, description="steps between resumable states")
    mixed_precision: Literal["no", "fp16", "bf16"] = Field(default="no", description="frozen model dtype (GPU)")
    gradient_checkpointing: bool = Field(default=False, description="GPU only: recompute UNet activations")
    seed: int = 0
    device: str = Field(default="auto", description="auto (the accelerate device), cpu, cuda...")


class ConceptsSpec(StrictModel):
    """Few-shot anomaly concepts (GAA, AnoGen): base model, clustering and learning."""

    dir: str = Field(description="folder where clusters and concept checkpoints are written and read")
    model: str = Field(default=DEFAULT_MODEL, description="diffusers inpainting pipeline: Hub id or folder")
    revision: str | None = None
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    learn: LearnSpec = Field(default_factory=LearnSpec)

    @field_validator("dir")
    @classmethod
    def _dir_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty folder name; name the folder for clusters and checkpoints")
        return value
