"""memory_bank: kNN and coreset primitives against brute force, and the detector on the toy defects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from anomset.errors import RecipeError
from anomset.evaluate.detectors import DetectorError
from anomset.evaluate.detectors.knn import greedy_coreset, knn
from anomset.evaluate.detectors.patch_features import gaussian_blur
from anomset.evaluate.metrics import auroc
from anomset.registry import DETECTORS
from tests.evaluate.patch_params import patch_params
from tests.evaluate.toy_sets import defect_set, pixel_auroc
from tests.features.tiny_models import tiny_resnet


@pytest.fixture(scope="module")
def resnet(tmp_path_factory) -> Path:
    return tiny_resnet(tmp_path_factory.mktemp("resnet"))


def test_knn_matches_cdist_in_small_chunks() -> None:
    g = torch.Generator().manual_seed(0)
    queries, bank = torch.randn(50, 7, generator=g), torch.randn(90, 7, generator=g)
    distances, indices = knn(queries, bank, k=3, chunk_elements=200)  # 2 query rows per chunk
    exact = torch.cdist(queries, bank)
    expected, expected_index = exact.topk(3, dim=1, largest=False)
    assert torch.allclose(distances, expected, atol=1e-4) and torch.equal(indices, expected_index)


def test_greedy_coreset_is_seeded_k_center() -> None:
    g = torch.Generator().manual_seed(1)
    points = torch.randn(300, 4, generator=g)
    first = greedy_coreset(points, 20, torch.Generator().manual_seed(5), projection_dim=0)
    again = greedy_coreset(points, 20, torch.Generator().manual_seed(5), projection_dim=0)
    assert torch.equal(first, again) and len(set(first.tolist())) == 20
    # each pick is the point farthest from those before it
    for step in range(1, 20):
        nearest = torch.cdist(points, points[first[:step]]).min(1).values
        assert torch.isclose(nearest[first[step]], nearest.max())
    # k-center covers better than a random subset of the same size
    random_pick = torch.randperm(300, generator=torch.Generator().manual_seed(0))[:20]
    def radius(subset: torch.Tensor) -> float:
        return float(torch.cdist(points, points[subset]).min(1).values.max())

    assert radius(first) < radius(random_pick)
    assert torch.equal(greedy_coreset(points, 500, g), torch.arange(300))


def test_gaussian_blur_keeps_constants_and_mass_in_the_middle() -> None:
    flat = torch.full((2, 20, 20), 3.0)
    assert torch.allclose(gaussian_blur(flat, 2.0), flat)
    impulse = torch.zeros(1, 41, 41)
    impulse[0, 20, 20] = 1
    blurred = gaussian_blur(impulse, 2.0)
    assert abs(float(blurred.sum()) - 1) < 1e-4 and int(blurred.argmax()) == 20 * 41 + 20


def test_memory_bank_finds_defects_from_normals_only(resnet: Path) -> None:
    train, test = defect_set(0, normals=12, anomalies=4), defect_set(1, normals=8, anomalies=8)
    detector = DETECTORS.get("memory_bank")(**patch_params(resnet, coreset_ratio=0.25, seed=2))
    assert detector.fit(train) is detector
    assert detector.bank_.shape[0] == round(0.25 * detector.patches_seen_)
    assert detector.patches_seen_ == 12 * 8 * 8  # normals only, on stage1's 8×8 grid at 32 px
    image_scores, maps = detector.score(test.images)
    assert image_scores.shape == (16,) and image_scores.dtype == np.float64
    assert maps.shape == (16, 32, 32) and maps.dtype == np.float32
    assert auroc(image_scores, test.labels) > 0.85
    assert pixel_auroc(maps, test.masks) > 0.85


def test_memory_bank_is_seeded_and_reweighting_lowers_scores(resnet: Path) -> None:
    train, test = defect_set(0, normals=8, anomalies=0), defect_set(1, normals=3, anomalies=3)
    a = DETECTORS.get("memory_bank")(**patch_params(resnet, seed=4)).fit(train).score(test.images)
    b = DETECTORS.get("memory_bank")(**patch_params(resnet, seed=4)).fit(train).score(test.images)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    other = DETECTORS.get("memory_bank")(**patch_params(resnet, seed=5)).fit(train)
    assert not np.array_equal(other.score(test.images)[0], a[0])
    weighted = DETECTORS.get("memory_bank")(**patch_params(resnet, seed=4, reweight=True)).fit(train).score(test.images)
    assert np.all(weighted[0] <= a[0] + 1e-9) and np.all(weighted[0] >= 0)
    big = np.repeat(np.repeat(test.images, 2, axis=1), 2, axis=2)
    assert DETECTORS.get("memory_bank")(**patch_params(resnet)).fit(train).score(big)[1].shape == (6, 64, 64)


def test_memory_bank_bad_params_and_order() -> None:
    cls = DETECTORS.get("memory_bank")
    with pytest.raises(ValidationError, match="coreset_ratio"):
        cls(coreset_ratio=0)
    with pytest.raises(ValidationError, match="pool must be odd"):
        cls(pool=2)
    with pytest.raises(ValidationError, match="no such model folder"):
        cls(backbone="./no/such/folder")
    with pytest.raises(DetectorError, match="call fit before score"):
        cls().score(np.zeros((1, 8, 8, 3), np.uint8))


def test_memory_bank_unknown_layer_is_one_line(resnet: Path) -> None:
    with pytest.raises(RecipeError, match="has no layer 'stage9'") as error:
        DETECTORS.get("memory_bank")(**patch_params(resnet, layers=["stage9"])).fit(defect_set(0, 2, 0))
    assert "\n" not in str(error.value)
