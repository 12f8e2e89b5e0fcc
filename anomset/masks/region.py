"""Region-guided placement: masks derived from the object's component regions.

Modes (``mode`` param of the one ``region`` strategy):

- ``inner``: a structural defect inside one region (an irregular blob clipped to it);
- ``edge``: a structural defect along a region's outline (a band over part of its contour);
- ``logical``: the region itself (a component that is wrong as a whole);
- ``combined``: several of the above at once, pairwise overlap below ``max_overlap``.

Regions are ``context.regions`` (the source's component masks); when there are none, the
connected components of the foreground.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from anomset.context import SampleContext
from anomset.masks.area import AreaParams, sized, target_area
from anomset.masks.base import MaskResult, MaskStrategy, random_point_in, uniform
from anomset.masks.foreground import connected_regions
from anomset.ranges import Domain, RatioRange, range_type
from anomset.registry import MASKS

ScaleRange = range_type(Domain(0.0, 4.0, low_open=True))
WidthRange = range_type(Domain(0.0, 0.5, low_open=True))
PartCountRange = range_type(Domain(1, 16), int)
Part = Literal["inner", "edge", "logical"]


def candidate_regions(context: SampleContext, min_area_ratio: float) -> tuple[list[np.ndarray], str]:
    """The regions to place in, and where they came from ("given", "foreground" or "image")."""
    given = [r for r in context.regions if np.any(r)]
    if given:
        return given, "given"
    found = connected_regions(context.foreground, min_area_ratio)
    if found:
        return found, "foreground"
    return [np.full(context.foreground.shape, 255, np.uint8)], "image"


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / min(|a|, |b|): 1 when one mask lies inside the other, 0 when they are disjoint."""
    smaller = min(np.count_nonzero(a), np.count_nonzero(b))
    return np.count_nonzero((a > 0) & (b > 0)) / smaller if smaller else 0.0


def inner_shape(region: np.ndarray, scale: float, rng: np.random.Generator,
                target: float | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """An irregular blob of diameter ``scale`` × √(region area), centred in the region, clipped to it;
    with ``target`` (pixels) the blob is sized so that its part in the region has that area instead."""
    if target is None:
        diameter = max(2.0, scale * math.sqrt(np.count_nonzero(region)))
    else:  # radii average 0.8 of the half-diameter: a disc of that mean radius has the target area
        diameter = max(2.0, 2.0 * math.sqrt(target / math.pi) / 0.8)
    core = cv2.erode(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)),
                     iterations=max(1, int(diameter / 4)))
    cx, cy = random_point_in(core if np.any(core) else region, rng)
    theta = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    radius = diameter / 2.0 * rng.uniform(0.6, 1.0, theta.size)
    radius = np.convolve(np.concatenate([radius[-1:], radius, radius[:1]]), np.ones(3) / 3, "valid")

    def render(k: float) -> np.ndarray:
        pts = np.stack([cx + k * radius * np.cos(theta), cy + k * radius * np.sin(theta)], -1)
        mask = np.zeros(region.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 255)
        return mask & region

    mask, k, params = sized(render, target, region)
    diameter *= k
    if not np.any(mask):
        mask[cy, cx] = 255
    return mask, {"center": [cx, cy], "diameter": round(diameter, 3), **params}


def edge_band(region: np.ndarray, width: float, coverage: float, rng: np.random.Generator,
              target: float | None = None, keep: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """A band ``width`` px wide over a random stretch (``coverage`` of its length) of the region's outline;
    with ``target`` (pixels) the stretch is as long as makes the band's part in ``keep`` (what the build
    keeps: the foreground; the region by default) that area."""
    contours, _ = cv2.findContours((region > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea).reshape(-1, 2)
    n = len(contour)
    start = int(rng.integers(n))
    thickness = max(1, round(width))
    # Half the band lies outside the region: the inside part of a stretch L long is about L·width/2.
    wanted = coverage * n if target is None else 2.0 * target / thickness

    def stretch_length(k: float) -> int:
        return max(2, round(k * wanted))

    def band(k: float) -> np.ndarray:
        length = stretch_length(k)
        mask = np.zeros(region.shape, np.uint8)
        if length >= n:
            cv2.polylines(mask, [contour.astype(np.int32)], True, 255, thickness)
        else:
            stretch = contour[(start + np.arange(length)) % n]
            cv2.polylines(mask, [stretch.astype(np.int32)], False, 255, thickness)
        return mask

    mask, k, params = sized(band, target, region if keep is None else keep)
    length = stretch_length(k)
    return mask, {"start": [int(contour[start][0]), int(contour[start][1])], "length": length,
                  "width": thickness, **params}


def place_apart(draw: Callable[[], tuple[np.ndarray, dict[str, Any]]], wanted: int, max_overlap: float,
                tries: int) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """Up to ``wanted`` masks from ``draw``, each overlapping every earlier one by at most ``max_overlap``.

    A part that finds no place in ``tries`` draws is skipped; the first part always fits.
    """
    placed: list[tuple[np.ndarray, dict[str, Any]]] = []
    for _ in range(wanted):
        for _ in range(tries):
            mask, params = draw()
            if all(overlap(mask, other) <= max_overlap for other, _ in placed):
                placed.append((mask, params))
                break
    return placed


class RegionParams(AreaParams):
    mode: Literal["inner", "edge", "logical", "combined"] = Field(
        default="inner", description="inner/edge: structural; logical: the region itself; combined: several")
    inner_scale: ScaleRange = Field(default=(0.2, 0.6), description="inner blob diameter / √(region area)")
    edge_width: WidthRange = Field(default=(0.01, 0.03), description="edge band width / shorter image side")
    edge_coverage: RatioRange = Field(default=(0.15, 0.5), description="fraction of the outline covered")
    dilate: int = Field(default=1, ge=0, le=64, description="logical: grow the region by this many px")
    parts: list[Part] = Field(default_factory=lambda: ["inner", "edge", "logical"], min_length=1,
                              description="combined: kinds drawn for each part")
    count: PartCountRange = Field(default=(2, 3), description="combined: number of parts, inclusive")
    max_overlap: float = Field(default=0.1, ge=0.0, le=1.0,
                               description="combined: max |a∩b| / min(|a|,|b|) between parts")
    min_region_area: float = Field(default=0.001, ge=0.0, le=1.0,
                                   description="foreground components smaller than this are not regions")
    tries: int = Field(default=20, ge=1, le=1000, description="combined: draws per part before giving up")


@MASKS.register("region")
class RegionMask(MaskStrategy):
    """Region-guided placement: inside a component, along its edge, the component itself, or several."""

    Params = RegionParams

    def __call__(self, shape: tuple[int, int], context: SampleContext,
                 rng: np.random.Generator) -> MaskResult:
        regions, origin = candidate_regions(context, self.params.min_region_area)
        # logical parts are whole regions: they keep their own size even with area: real
        target = target_area(self.params, context, shape, rng) if self.params.mode != "logical" else None
        keep = context.foreground if context.foreground.shape == tuple(shape) else None  # what the build keeps
        if self.params.mode != "combined":
            mask, params = self._part(self.params.mode, shape, regions, rng, target, keep)
            return MaskResult(mask, {"regions_from": origin, **params})
        p = self.params
        wanted = int(rng.integers(p.count[0], p.count[1] + 1))
        share = None if target is None else target / wanted  # the parts together make one real-sized defect

        def draw() -> tuple[np.ndarray, dict[str, Any]]:
            return self._part(p.parts[int(rng.integers(len(p.parts)))], shape, regions, rng, share, keep)

        placed = place_apart(draw, wanted, p.max_overlap, p.tries)
        union = np.zeros(shape, np.uint8)
        for mask, _ in placed:
            union |= mask
        return MaskResult(union, {"regions_from": origin, "mode": "combined", "wanted": wanted,
                                  "parts": [params for _, params in placed]})

    def _part(self, kind: str, shape: tuple[int, int], regions: list[np.ndarray],
              rng: np.random.Generator, target: float | None = None,
              keep: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        p = self.params
        index = int(rng.integers(len(regions)))
        region = regions[index]
        if region.shape != tuple(shape):
            # Area interpolation, any coverage counts: a thin part must not vanish when shrunk.
            region = cv2.resize(region, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        region = np.where(region > 0, 255, 0).astype(np.uint8)
        if kind == "inner":
            scale = uniform(rng, p.inner_scale)
            mask, params = inner_shape(region, scale, rng, target)
            params["scale"] = round(scale, 4)
        elif kind == "edge":
            width = uniform(rng, p.edge_width) * min(shape)
            coverage = uniform(rng, p.edge_coverage)
            mask, params = edge_band(region, width, coverage, rng, target, keep)
            params["coverage"] = round(coverage, 4)
        else:
            mask = region
            if p.dilate:
                size = 2 * p.dilate + 1
                mask = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
            params = {"dilate": p.dilate}
        return mask, {"mode": kind, "region": index, **params}
