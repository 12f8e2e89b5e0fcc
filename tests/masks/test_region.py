"""Region-guided placement: inner, edge, logical and combined modes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from anomset.context import SampleContext
from anomset.masks.region import RegionMask, overlap, place_apart
from tests.masks.conftest import SHAPE, disc


def _inside(mask: np.ndarray, region: np.ndarray) -> bool:
    return not np.any((mask > 0) & (region == 0))


def test_logical_mode_is_a_whole_region(object_context) -> None:
    for seed in range(6):
        result = RegionMask(mode="logical", dilate=0)(SHAPE, object_context, np.random.default_rng(seed))
        assert np.array_equal(result.mask, object_context.regions[result.params["region"]])
        assert result.params["regions_from"] == "given"


def test_inner_mode_stays_inside_its_region(object_context) -> None:
    for seed in range(10):
        result = RegionMask(mode="inner")(SHAPE, object_context, np.random.default_rng(seed))
        region = object_context.regions[result.params["region"]]
        assert result.mask.any() and _inside(result.mask, region)
        assert np.count_nonzero(result.mask) < np.count_nonzero(region)


def test_edge_mode_is_a_band_on_the_outline(object_context) -> None:
    for seed in range(10):
        result = RegionMask(mode="edge", edge_width=(0.05, 0.05))(SHAPE, object_context,
                                                                   np.random.default_rng(seed))
        region = object_context.regions[result.params["region"]]
        reach = np.ones((9, 9), np.uint8)  # 4 px: more than half the 3 px band
        band = cv2.dilate(region, reach) & ~cv2.erode(region, reach)
        assert result.mask.any() and _inside(result.mask, band)
        assert np.any(result.mask & region) and np.any(result.mask & ~region)


def test_combined_parts_overlap_below_threshold(object_context) -> None:
    strategy = RegionMask(mode="combined", count=(3, 3), max_overlap=0.05)
    rng = np.random.default_rng(3)
    placed = place_apart(lambda: strategy._part("inner", SHAPE, object_context.regions, rng), 3, 0.05, 50)
    assert len(placed) == 3
    for i, (a, _) in enumerate(placed):
        for b, _ in placed[i + 1:]:
            assert overlap(a, b) <= 0.05
    result = strategy(SHAPE, object_context, np.random.default_rng(4))
    assert result.params["wanted"] == 3 and 1 <= len(result.params["parts"]) <= 3
    for part in result.params["parts"]:
        assert part["mode"] in ("inner", "edge", "logical")


def test_place_apart_rejects_overlapping_draws() -> None:
    same = disc(SHAPE, (20, 20), 6)
    placed = place_apart(lambda: (same, {}), 3, 0.1, 5)
    assert len(placed) == 1  # every later draw is the same mask: overlap 1


def test_regions_default_to_foreground_components() -> None:
    left, right = disc(SHAPE, (16, 32), 8), disc(SHAPE, (48, 32), 10)
    context = SampleContext("parts", left | right)
    seen = set()
    for seed in range(8):
        result = RegionMask(mode="logical", dilate=0)(SHAPE, context, np.random.default_rng(seed))
        assert result.params["regions_from"] == "foreground"
        assert np.array_equal(result.mask, [right, left][result.params["region"]])  # largest first
        seen.add(result.params["region"])
    assert seen == {0, 1}


@pytest.mark.parametrize("bad", [{"mode": "outline"}, {"parts": []}, {"parts": ["combined"]},
                                 {"count": (3, 2)}, {"edge_coverage": (0.5, 1.5)}, {"max_overlap": -0.1}])
def test_bad_params_rejected(bad) -> None:
    with pytest.raises(ValidationError):
        RegionMask(**bad)


def test_regions_at_another_size_are_resized_without_vanishing() -> None:
    thin = np.zeros((128, 128), np.uint8)
    thin[60, 20:100] = 255  # one pixel high: nearest-neighbour halving could drop it
    context = SampleContext("wire", np.full((128, 128), 255, np.uint8), [thin])
    for mode in ("inner", "edge", "logical"):
        result = RegionMask(mode=mode, dilate=0)((64, 64), context, np.random.default_rng(0))
        assert result.mask.shape == (64, 64) and result.mask.any()
