"""dual_memory (ExDD): the two banks, the ratio's effect on benign novelty, seeds and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from anomset.evaluate.detectors import DetectorError, TrainSet
from anomset.evaluate.metrics import auroc
from anomset.registry import DETECTORS
from tests.evaluate.patch_params import patch_params
from tests.evaluate.toy_sets import defect_set, pixel_auroc
from tests.features.tiny_models import tiny_resnet


@pytest.fixture(scope="module")
def resnet(tmp_path_factory) -> Path:
    return tiny_resnet(tmp_path_factory.mktemp("resnet"))


def test_dual_memory_separates_defects_and_fills_both_banks(resnet: Path) -> None:
    train, test = defect_set(0, normals=12, anomalies=6), defect_set(1, normals=8, anomalies=8)
    detector = DETECTORS.get("dual_memory")(**patch_params(resnet, seed=1))
    assert detector.fit(train) is detector
    assert [bank["layer"] for bank in detector.banks_] == ["stage1", "stage2"]
    stage1 = detector.banks_[0]
    assert stage1["normal"].shape[0] == round(0.1 * 12 * 8 * 8)
    # anomalous cells come from inside the masks only: far fewer than all the anomalies' cells
    assert 6 <= stage1["anomalous"].shape[0] < 6 * 8 * 8 / 4
    image_scores, maps = detector.score(test.images)
    assert image_scores.shape == (16,) and maps.shape == (16, 32, 32) and maps.dtype == np.float32
    assert auroc(image_scores, test.labels) > 0.85
    assert pixel_auroc(maps, test.masks) > 0.85


def test_the_anomalous_bank_discounts_benign_novelty(resnet: Path) -> None:
    """Test normals carry a dark square (new, but no defect); the defects are bright squares as in training:
    the ratio to the anomalous bank ranks the defects above the benign novelty better than distance alone."""
    train = defect_set(0, normals=12, anomalies=8, types=("square",))
    test = defect_set(1, normals=8, anomalies=8, types=("square",))
    images = test.images.copy()
    rng = np.random.default_rng(7)
    for i in np.flatnonzero(test.labels == 0):
        side = int(rng.integers(5, 10))
        y, x = rng.integers(0, 32 - side, 2)
        images[i, y:y + side, x:x + side] = 20
    plain = DETECTORS.get("dual_memory")(**patch_params(resnet, ratio_power=0.0)).fit(train).score(images)[0]
    ratio = DETECTORS.get("dual_memory")(**patch_params(resnet, ratio_power=2.0)).fit(train).score(images)[0]
    assert auroc(ratio, test.labels) >= auroc(plain, test.labels) + 0.05


def test_dual_memory_is_seeded(resnet: Path) -> None:
    train, test = defect_set(0, normals=8, anomalies=4), defect_set(1, normals=2, anomalies=2)
    a = DETECTORS.get("dual_memory")(**patch_params(resnet, seed=3)).fit(train).score(test.images)
    b = DETECTORS.get("dual_memory")(**patch_params(resnet, seed=3)).fit(train).score(test.images)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = DETECTORS.get("dual_memory")(**patch_params(resnet, seed=4)).fit(train).score(test.images)
    assert not np.array_equal(c[1], a[1])


def test_dual_memory_refuses_what_it_cannot_learn(resnet: Path) -> None:
    cls = DETECTORS.get("dual_memory")
    with pytest.raises(ValidationError, match="window must be odd"):
        cls(window=4)
    with pytest.raises(ValidationError, match="unknown field 'neighbors'; did you mean 'neighbours'"):
        cls(neighbors=3)
    with pytest.raises(DetectorError, match="call fit before score"):
        cls().score(np.zeros((1, 8, 8, 3), np.uint8))
    data = defect_set(0, normals=4, anomalies=4)
    only_normals = TrainSet(data.images[:4], data.masks[:4], data.labels[:4], data.defect_types[:4], data.keys[:4])
    with pytest.raises(DetectorError, match="supervised but the training set has no anomalies"):
        cls(**patch_params(resnet)).fit(only_normals)
    only_anomalies = TrainSet(data.images[4:], data.masks[4:], data.labels[4:], data.defect_types[4:], data.keys[4:])
    with pytest.raises(DetectorError, match="needs normals"):
        cls(**patch_params(resnet)).fit(only_anomalies)
    no_masks = TrainSet(data.images, np.zeros_like(data.masks), data.labels, data.defect_types, data.keys)
    with pytest.raises(DetectorError, match="masks are empty"):
        cls(**patch_params(resnet)).fit(no_masks)
