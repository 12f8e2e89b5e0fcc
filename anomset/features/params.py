"""Recipe params that name a backbone and take patch features from it, checked when the recipe loads.

``BackboneReference`` is the field type of every ``backbone`` param (each model keeps its own default
and description); ``PatchBackboneParams`` holds the fields that the patch-feature detectors and the
``ars`` filter share.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from anomset.configurable import StrictModel
from anomset.features.loading import parse_reference


def _model_reference(value: str) -> str:
    parse_reference(value)  # a folder that holds no model fails when the recipe loads, not mid-run
    return value


# A Hub id or save_pretrained folder that parses as a model reference.
BackboneReference = Annotated[str, AfterValidator(_model_reference)]


class PatchBackboneParams(StrictModel):
    """A frozen backbone, the layers its patch features come from, its input side and their local average."""

    backbone: BackboneReference = Field(default="microsoft/resnet-50", description="Hub id or save_pretrained folder")
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit)")
    layers: list[str | int] = Field(default_factory=lambda: ["stage2", "stage3"], min_length=1)
    image_size: int = Field(default=224, ge=16, le=2048, description="backbone input side")
    pool: int = Field(default=3, ge=1, le=9, description="local average side (PatchCore's 3; 1 = none)")

    @field_validator("pool")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"pool must be odd (a centred window), got {value}")
        return value
