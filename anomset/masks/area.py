"""Mask areas calibrated to the class's real defects (``area: real``), shared by the free-size strategies.

A strategy whose size is a free range (rectangle, ellipse, scar, perlin, region inner/edge) draws it
from its own range by default (``area: params``). With ``area: real`` each mask's target area is drawn
from the class's real defect masks that generators may see (``ClassPool.defect_masks``: the shown
defects in a build): one of their areas, chosen uniformly, times a log-uniform ``area_spread`` factor,
so the synthetic areas follow the real distribution instead of a fixed share of the image. The shape
is then grown or shrunk about its centre until the part that lands on the foreground (what the build
keeps) has that area.

With ``area: params`` the three ``area*`` fields are left out of the resolved params, so recipes that
do not opt in keep their data hash and bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.errors import SynthesisError
from anomset.masks.base import log_uniform
from anomset.ranges import PositiveRange

AREA_FIELDS = ("area", "area_spread", "area_fallback")


class AreaParams(StrictModel):
    """The ``area`` option of a free-size mask strategy (mixed into its params)."""

    area: Literal["params", "real"] = Field(
        default="params", description="params: size from this strategy's own range; real: from the class's "
                                      "real defect masks (shown defects)")
    area_spread: PositiveRange = Field(default=(0.8, 1.25),
                                       description="area: real: the drawn real area times a log-uniform factor")
    area_fallback: Literal["error", "params"] = Field(
        default="error", description="area: real on a class without real defect masks: stop, or use the own range")

    @model_validator(mode="after")
    def _area_options_need_real(self) -> AreaParams:
        # A value other than the default would be silently ignored (and left out of the data hash).
        stray = [f for f in ("area_spread", "area_fallback")
                 if getattr(self, f) != type(self).model_fields[f].default]
        if self.area == "params" and stray:
            raise ValueError(f"{stray[0]} only applies with area: real (got area: params)")
        return self


def without_default_area(params: dict[str, Any]) -> dict[str, Any]:
    """Resolved params with the ``area*`` fields dropped when the area is the strategy's own."""
    if params.get("area", "params") == "params":
        return {k: v for k, v in params.items() if k not in AREA_FIELDS}
    return params


def real_areas(context: SampleContext, shape: tuple[int, int]) -> np.ndarray:
    """Pixel areas of the class's non-empty real defect masks, rescaled to ``shape``."""
    masks = context.pool.defect_masks() if context.pool is not None else []
    return np.array([np.count_nonzero(m) * shape[0] * shape[1] / (m.shape[0] * m.shape[1])
                     for m in masks if np.any(m)], np.float64)


def target_area(params: AreaParams, context: SampleContext, shape: tuple[int, int],
                rng: np.random.Generator) -> float | None:
    """The area (pixels) this mask should have, or None to use the strategy's own size range."""
    if params.area == "params":
        return None
    areas = real_areas(context, shape)
    if areas.size == 0:
        if params.area_fallback == "params":
            return None
        raise SynthesisError(f"class {context.class_name!r} has no real defect masks to take mask areas from",
                             field="mask.params.area",
                             fix="set classes.<class>.shown_defects (e.g. 1/3) on a source with real defects, "
                                 "set mask.params.area_fallback: params, or area: params")
    return float(areas[int(rng.integers(areas.size))]) * log_uniform(rng, params.area_spread)


def sized(render: Callable[[float], np.ndarray], target: float | None, foreground: np.ndarray
          ) -> tuple[np.ndarray, float, dict[str, Any]]:
    """(mask, linear scale, params to record): ``render(1)`` when there is no ``target``, else ``fit_area``."""
    if target is None:
        return render(1.0), 1.0, {}
    mask, scale = fit_area(render, target, foreground)
    return mask, scale, {"target_area": round(target, 2)}


def fit_area(render: Callable[[float], np.ndarray], target: float, foreground: np.ndarray,
             iterations: int = 6, tolerance: float = 0.05) -> tuple[np.ndarray, float]:
    """The mask ``render(s)`` (a shape at linear scale ``s`` about its centre) whose part on ``foreground``
    is closest to ``target`` pixels, and that scale. No randomness: the shape is fixed, only its scale moves.
    """
    scale = 1.0
    best, best_scale, best_error = None, scale, math.inf
    for _ in range(iterations):
        mask = render(scale)
        inside = int(np.count_nonzero((mask > 0) & (foreground > 0)))
        error = abs(math.log(max(inside, 1) / target))
        if error < best_error:
            best, best_scale, best_error = mask, scale, error
        if error <= tolerance or inside == 0:
            break
        # Area grows with the square of the linear scale; bounded steps keep clipping from overshooting.
        scale *= min(4.0, max(0.25, math.sqrt(target / inside)))
    return best, best_scale
