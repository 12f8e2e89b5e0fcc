"""Parameter types shared by synthesizer ``Params`` models."""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field

T = TypeVar("T", int, float)


def _ordered(bounds: tuple[T, T]) -> tuple[T, T]:
    if bounds[0] > bounds[1]:
        raise ValueError(f"range must be (low, high) with low <= high, got ({bounds[0]}, {bounds[1]})")
    return bounds


Range = Annotated[tuple[float, float], AfterValidator(_ordered)]
"""A (low, high) pair of floats, low <= high; values are drawn uniformly between them."""

IntRange = Annotated[tuple[int, int], AfterValidator(_ordered)]
"""A (low, high) pair of ints, both inclusive."""

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
UnitRange = Annotated[tuple[Unit, Unit], AfterValidator(_ordered)]
"""A (low, high) pair within [0, 1], low <= high."""
