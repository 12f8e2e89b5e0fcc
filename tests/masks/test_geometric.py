"""GAA geometric enhancement: closing, polygon approximation, perturbation, area scaling."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from anomset.context import SampleContext
from anomset.errors import SynthesisError
from anomset.masks.geometric import (
    GeometricMask,
    approximate_polygon,
    area_scale,
    close_mask,
    largest_contour,
    perturb_vertices,
    polygon_area,
)
from tests.masks.conftest import FakePool, disc, rect


def test_closing_bridges_a_gap_and_never_shrinks() -> None:
    mask = rect((40, 40), 5, 10, 15, 20) | rect((40, 40), 17, 10, 27, 20)  # 2 px gap
    closed = close_mask(mask, 5)
    assert cv2.connectedComponents((closed > 0).astype(np.uint8))[0] - 1 == 1
    assert np.all(closed[mask > 0] == 255)
    assert np.array_equal(close_mask(mask, 1), mask)


def test_closing_keeps_shapes_at_the_border() -> None:
    mask = rect((30, 30), 0, 0, 10, 10)
    assert np.array_equal(close_mask(mask, 7), mask)


def test_polygon_approximation_simplifies_by_delta() -> None:
    contour = largest_contour(disc((100, 100), (50, 50), 30))
    fine = approximate_polygon(contour, 0.002)
    coarse = approximate_polygon(contour, 0.02)
    assert 3 <= len(coarse) < len(fine) < len(contour)
    assert polygon_area(coarse) == pytest.approx(polygon_area(contour), rel=0.12)
    assert polygon_area(fine) == pytest.approx(polygon_area(contour), rel=0.02)


def test_perturbation_is_bounded_and_seeded() -> None:
    square = np.array([[0, 0], [20, 0], [20, 20], [0, 20]], np.float64)
    assert np.array_equal(perturb_vertices(square, 0.0, np.random.default_rng(0)), square)
    moved = perturb_vertices(square, 0.1, np.random.default_rng(0))
    shift = np.abs(moved - square)
    assert shift.max() <= 0.1 * 20 + 1e-9 and shift.max() > 0
    assert np.array_equal(moved, perturb_vertices(square, 0.1, np.random.default_rng(0)))


def test_area_scale_formula() -> None:
    assert area_scale(100, 400, 0.5) == pytest.approx(0.5 * 2 + 0.5 * 4 ** (1 / 3))
    assert area_scale(100, 400, 1.0) ** 2 * 100 == pytest.approx(400)
    assert area_scale(100, 400, 0.0) == pytest.approx(4 ** (1 / 3))
    assert area_scale(250, 250, 0.3) == pytest.approx(1.0)


@pytest.mark.parametrize(("area", "mean"), [(100, 900), (900, 100)])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9])
def test_scaled_area_moves_toward_the_mean_without_overshoot(area, mean, alpha) -> None:
    scaled = area_scale(area, mean, alpha) ** 2 * area
    assert min(area, mean) < scaled < max(area, mean)
    closer = area_scale(area, mean, min(1.0, alpha + 0.1)) ** 2 * area
    assert abs(closer - mean) < abs(scaled - mean)  # more √ weight: closer to A_avg


def _scene(defects: list[np.ndarray]) -> SampleContext:
    shape = (128, 128)
    return SampleContext("widget", rect(shape, 44, 44, 84, 84), [], FakePool(defects))


@pytest.mark.parametrize("alpha", [1.0, 0.5, 0.0])
def test_drawn_mask_area_follows_the_scaling(alpha) -> None:
    shape = (128, 128)
    defects = [rect(shape, 10, 10, 20, 20), rect(shape, 60, 60, 86, 86)]  # 100 and 676 px
    mean = (100 + 676) / 2
    strategy = GeometricMask(alpha=alpha, perturbation=0.0, closing_kernel=1)
    for seed in range(6):
        result = strategy(shape, _scene(defects), np.random.default_rng(seed))
        p = result.params
        assert p["mean_area"] == pytest.approx(mean)
        expected = area_scale(p["seed_area"], mean, alpha) ** 2 * p["seed_area"]
        drawn = np.count_nonzero(result.mask)
        assert drawn == pytest.approx(expected, rel=0.2, abs=30)
        if alpha == 1.0:
            assert drawn == pytest.approx(mean, rel=0.2)


def test_defect_masks_at_another_size_are_rescaled() -> None:
    small = [rect((64, 64), 5, 5, 15, 15)]  # 100 px at 64² = 400 px at 128²
    result = GeometricMask(perturbation=0.0)((128, 128), _scene(small), np.random.default_rng(0))
    assert result.params["mean_area"] == pytest.approx(400)
    assert np.count_nonzero(result.mask) == pytest.approx(400, rel=0.25)


def test_no_defect_masks_is_a_clear_error_or_a_documented_fallback() -> None:
    with pytest.raises(SynthesisError, match="no real defect masks"):
        GeometricMask()((64, 64), _scene([]), np.random.default_rng(0))
    result = GeometricMask(fallback="blob")((128, 128), _scene([]), np.random.default_rng(0))
    assert result.params["seed"] == "blob" and result.mask.any()


@pytest.mark.parametrize("bad", [{"delta": (0.3, 0.1)}, {"delta": (0.1, 0.9)}, {"alpha": 1.5},
                                 {"closing_kernel": 0}, {"fallback": "ellipse"},
                                 {"fallback_area_ratio": (0.0, 0.1)}])
def test_bad_params_rejected(bad) -> None:
    with pytest.raises(ValidationError):
        GeometricMask(**bad)
