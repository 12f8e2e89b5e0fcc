"""The validated ``(low, high)`` range types every configurable's ``Params`` use.

A range is a pair with ``low <= high`` whose bounds lie in the range's domain (an area ratio in
(0, 1], an angle in [-360, 360], ...). Values are drawn between the bounds. Each type carries its
``Domain`` in its metadata, so conformance tests can probe every range of every component.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator


@dataclass(frozen=True)
class Domain:
    """Where a range's bounds may lie; ``None`` is unbounded, ``*_open`` excludes the end itself."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def __str__(self) -> str:
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{left}{low}, {high}{right}"

    def outside(self) -> list[float]:
        """Values just outside the domain (for tests and messages); empty when unbounded both ways."""
        values = []
        if self.low is not None:
            values.append(self.low if self.low_open else self.low - max(1.0, abs(self.low)))
        if self.high is not None:
            values.append(self.high if self.high_open else self.high + max(1.0, abs(self.high)))
        return values


def _checker(domain: Domain) -> Any:
    def check(bounds: tuple[Any, Any]) -> tuple[Any, Any]:
        low, high = bounds
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"range bounds must be finite numbers, got ({low}, {high})")
        if low > high:
            raise ValueError(f"range must be (low, high) with low <= high, got ({low}, {high})")
        if not (domain.contains(low) and domain.contains(high)):
            raise ValueError(f"range bounds must lie in {domain}, got ({low}, {high})")
        return bounds

    return check


def range_type(domain: Domain = Domain(), kind: type = float) -> Any:
    """A validated ``(low, high)`` pair of ``kind`` whose bounds lie in ``domain``."""
    return Annotated[tuple[kind, kind], AfterValidator(_checker(domain)), domain]


def domain_of(metadata: list[Any]) -> Domain | None:
    """The ``Domain`` of a pydantic field built from a range type (``None`` for other fields)."""
    return next((m for m in metadata if isinstance(m, Domain)), None)


Range = range_type()
"""Any finite (low, high) floats."""

IntRange = range_type(kind=int)
"""A (low, high) pair of ints, both inclusive."""

CountRange = range_type(Domain(1), int)
"""How many of something, at least one: ints in [1, inf), both inclusive."""

UnitRange = range_type(Domain(0.0, 1.0))
"""Within [0, 1]: opacities, blend weights, HSV saturation and value."""

RatioRange = range_type(Domain(0.0, 1.0, low_open=True))
"""A share of the image (area ratios) or of its shorter side, in (0, 1]."""

PositiveRange = range_type(Domain(0.0, low_open=True))
"""Positive factors such as aspect ratios and scales, in (0, inf)."""

AngleRange = range_type(Domain(-360.0, 360.0))
"""Degrees, in [-360, 360]."""
