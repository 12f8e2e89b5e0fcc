"""Metrics against hand-computed cases and scikit-learn; the streaming accumulator within its own bounds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from anomset.evaluate.metrics import (
    PixelMetricAccumulator,
    accuracy,
    auroc,
    average_precision,
    f1_max,
    pro_score,
    region_weights,
)

SCORES = [0.1, 0.4, 0.35, 0.8]
LABELS = [0, 0, 1, 1]


def test_hand_computed_image_metrics() -> None:
    assert auroc(SCORES, LABELS) == pytest.approx(0.75)
    # thresholds 0.8, 0.4, 0.35, 0.1: precision 1, 1/2, 2/3, 1/2; recall steps at 0.8 and 0.35
    assert average_precision(SCORES, LABELS) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert f1_max(SCORES, LABELS) == pytest.approx(0.8)  # at 0.35: tp 2, fp 1
    assert auroc([0.5, 0.5], [0, 1]) == 0.5  # a tie is half right
    assert average_precision([0.5, 0.5], [0, 1]) == 0.5
    assert auroc([1, 2, 3], [0, 1, 1]) == 1.0 and auroc([3, 2, 1], [0, 1, 1]) == 0.0


def test_accuracy() -> None:
    assert accuracy(["crack", "hole", "crack"], ["crack", "crack", "crack"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="equal-length"):
        accuracy([1, 2], [1])


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="both positives and negatives"):
        auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        auroc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="finite"):
        average_precision([np.nan, 0.2], [0, 1])
    with pytest.raises(ValueError, match="equal H×W"):
        PixelMetricAccumulator().update(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="power of two"):
        PixelMetricAccumulator(bins=1000)


@pytest.mark.parametrize("seed", range(4))
def test_image_metrics_match_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = (rng.random(500) < 0.3).astype(int)
    scores = np.round(rng.random(500) + 0.4 * labels, 2)  # rounding makes many ties
    assert auroc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(scores, labels) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    precision, recall, _ = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore"):
        expected_f1 = np.nanmax(2 * precision * recall / (precision + recall))
    assert f1_max(scores, labels) == pytest.approx(expected_f1, abs=1e-12)


def test_pro_hand_computed() -> None:
    # Two regions: A = (0,0), B = (1,2)+(1,3); five normal pixels.
    gt = np.array([[1, 0, 0, 0], [0, 0, 1, 1]], np.uint8) * 255
    scores = np.array([[0.9, 0.7, 0.1, 0.1], [0.1, 0.1, 0.8, 0.2]])
    # Curve (fpr, pro): (0,.5) (0,.75) (.2,.75) (.2,1) (1,1); area to .3 = .2*.75 + .1*1 = .25.
    assert pro_score([scores], [gt]) == pytest.approx(0.25 / 0.3)
    assert pro_score([scores], [gt], max_fpr=1.0) == pytest.approx(0.2 * 0.75 + 0.8)
    accumulator = PixelMetricAccumulator()
    accumulator.update(scores, gt)
    assert accumulator.compute().pro == pytest.approx(0.25 / 0.3)


def test_regions_are_8_connected_and_weighted_by_area() -> None:
    mask = np.zeros((5, 5), np.uint8)
    mask[0, 0] = mask[1, 1] = 255  # diagonal neighbours: one region of 2 pixels
    mask[4, 3:5] = 255  # a second region of 2 pixels
    weights, regions = region_weights(mask > 0)
    assert regions == 2
    assert weights[0, 0] == weights[4, 4] == 0.5 and weights[2, 2] == 0


def random_maps(seed: int, count: int = 6, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = np.zeros((count, size, size), np.uint8)
    maps = rng.normal(0.0, 1.0, (count, size, size)).astype(np.float32)
    for i in range(count):
        if i % 3 == 2:
            continue  # some images are normal
        for _ in range(int(rng.integers(1, 3))):
            y, x = rng.integers(0, size - 12, 2)
            masks[i, y:y + int(rng.integers(3, 12)), x:x + int(rng.integers(3, 12))] = 255
        maps[i][masks[i] > 0] += rng.uniform(0.5, 2.0)
    return maps * (10.0 ** (seed - 2)), masks  # scale varies so the bin range has to grow


@pytest.mark.parametrize("seed", range(4))
def test_accumulator_matches_sklearn_within_its_bounds(seed: int) -> None:
    maps, masks = random_maps(seed)
    accumulator = PixelMetricAccumulator()
    for score_map, mask in zip(maps, masks, strict=True):
        accumulator.update(score_map, mask)
    result = accumulator.compute()
    labels, scores = (masks > 0).ravel(), maps.astype(np.float64).ravel()
    exact_auroc = roc_auc_score(labels, scores)
    exact_ap = average_precision_score(labels, scores)
    exact_pro = pro_score(maps, masks)
    assert abs(result.auroc - exact_auroc) <= result.auroc_error_bound + 1e-12
    assert abs(result.average_precision - exact_ap) <= result.average_precision_error_bound + 1e-12
    assert abs(result.pro - exact_pro) <= result.pro_error_bound + 1e-12
    assert f1_max(scores, labels) - result.f1_max <= result.f1_max_error_bound + 1e-12
    assert f1_max(scores, labels) >= result.f1_max - 1e-12  # binning only removes thresholds
    # and the bounds themselves are small at 2**16 bins
    assert max(result.auroc_error_bound, result.average_precision_error_bound, result.pro_error_bound) < 1e-3
    assert result.positives == int(labels.sum()) and result.negatives == labels.size - int(labels.sum())


def test_accumulator_is_exact_when_scores_fall_in_distinct_bins() -> None:
    rng = np.random.default_rng(7)
    masks = (rng.random((3, 32, 32)) < 0.2).astype(np.uint8)
    maps = rng.integers(0, 256, (3, 32, 32)).astype(np.float64) + 40 * masks
    accumulator = PixelMetricAccumulator()
    for score_map, mask in zip(maps, masks, strict=True):
        accumulator.update(score_map, mask)
    result = accumulator.compute()
    labels, scores = masks.ravel(), maps.ravel()
    assert result.auroc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert result.average_precision == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert result.pro == pytest.approx(pro_score(maps, masks), abs=1e-12)


def test_range_growth_keeps_what_was_binned() -> None:
    """Feeding the same maps in another order (so the range grows differently) stays within the bounds."""
    maps, masks = random_maps(1)
    maps[0] *= 1e-3  # the first map sets a narrow range
    forward, backward = PixelMetricAccumulator(), PixelMetricAccumulator()
    for i in range(len(maps)):
        forward.update(maps[i], masks[i])
        backward.update(maps[-1 - i], masks[-1 - i])
    a, b = forward.compute(), backward.compute()
    assert abs(a.auroc - b.auroc) <= a.auroc_error_bound + b.auroc_error_bound + 1e-12
    assert a.regions == b.regions and a.positives == b.positives


def test_accumulator_needs_both_classes_and_handles_constant_maps() -> None:
    accumulator = PixelMetricAccumulator()
    accumulator.update(np.ones((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="both positives and negatives"):
        accumulator.compute()
    mask = np.zeros((4, 4))
    mask[0, 0] = 1
    accumulator.update(np.arange(16.0).reshape(4, 4), mask)
    assert accumulator.compute().regions == 1
    constant = PixelMetricAccumulator()
    constant.update(np.full((4, 4), 3.0), mask)  # a constant first map still gets a range
    assert constant.compute().auroc == 0.5
