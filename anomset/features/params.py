"""Recipe field types for params that name a backbone and pool its features, checked when the recipe loads.

Each model that takes a backbone keeps its own default and description; the check lives here, once.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from anomset.features.loading import parse_reference


def _model_reference(value: str) -> str:
    parse_reference(value)  # a folder that holds no model fails when the recipe loads, not mid-run
    return value


def _odd_pool(value: int) -> int:
    if value % 2 == 0:
        raise ValueError(f"pool must be odd (a centred window), got {value}")
    return value


# A Hub id or save_pretrained folder that parses as a model reference.
BackboneReference = Annotated[str, AfterValidator(_model_reference)]
# The side of the local average over a backbone's patch features (odd, so the window is centred).
PoolSide = Annotated[int, Field(ge=1, le=9, description="local average side (PatchCore's 3; 1 = none)"),
                     AfterValidator(_odd_pool)]
