"""KID, IS and IC-LPIPS against cases worked out by hand on tiny inputs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from anomset.quality.metrics import (
    ic_lpips,
    inception_score,
    kid,
    mmd2_unbiased,
    perceptual_distances,
    polynomial_kernel,
    unit_normalise,
)


def test_the_cubic_kernel_by_hand() -> None:
    x = np.array([[1.0, 2.0]])
    y = np.array([[3.0, -1.0]])
    assert polynomial_kernel(x, y)[0, 0] == pytest.approx((1 / 2 + 1) ** 3)  # x·y = 1, d = 2


def test_unbiased_mmd2_by_hand() -> None:
    # d = 1, k(x, y) = (xy + 1)³.  X = {0, 1}: k(0,1) = 1.  Y = {2, 3}: k(2,3) = 343.
    # Cross: k(0,2) = k(0,3) = 1, k(1,2) = 27, k(1,3) = 64 → mean 93/4.
    # MMD² = 2·1/2 + 2·343/2 − 2·93/4 = 1 + 343 − 46.5 = 297.5
    x, y = np.array([[0.0], [1.0]]), np.array([[2.0], [3.0]])
    assert mmd2_unbiased(x, y) == pytest.approx(297.5)
    result = kid(x, y, np.random.default_rng(0), subsets=3, subset_size=2)
    assert result.mean == pytest.approx(297.5) and result.std == pytest.approx(0.0)
    assert (result.parts, result.part_size) == (3, 2)


def test_kid_of_a_set_with_itself_is_near_zero_and_a_shift_is_not() -> None:
    rng = np.random.default_rng(0)
    real, other = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    same = kid(real, real, np.random.default_rng(1), subsets=20, subset_size=100)
    independent = kid(real, other, np.random.default_rng(1), subsets=20, subset_size=100)
    shifted = kid(real, other + 0.3, np.random.default_rng(1), subsets=20, subset_size=100)
    # Measured: same -0.059 ± 0.026 (subsets of one set overlap), independent 0.017 ± 0.050, shifted 0.47 ± 0.14
    assert abs(same.mean) < 0.1 and abs(independent.mean) < 0.1
    assert shifted.mean > 0.3 and shifted.mean > 4 * max(abs(same.mean), abs(independent.mean))


def test_kid_is_reproducible_from_its_rng_and_caps_the_subset() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 4)), rng.normal(0.3, 1, size=(40, 4))
    first = kid(a, b, np.random.default_rng(5), subsets=10, subset_size=1000)
    assert first == kid(a, b, np.random.default_rng(5), subsets=10, subset_size=1000)
    assert first.part_size == 40 and first.std > 0


def test_kid_refuses_mismatched_features() -> None:
    with pytest.raises(ValueError, match="same d"):
        kid(np.zeros((4, 3)), np.zeros((4, 2)), np.random.default_rng(0))


def test_is_of_uniform_predictions_is_one() -> None:
    result = inception_score(np.zeros((20, 7)), splits=4)
    assert result.mean == pytest.approx(1.0) and result.std == pytest.approx(0.0)


@pytest.mark.parametrize("k", [2, 5])
def test_is_of_k_confident_balanced_classes_is_k(k: int) -> None:
    logits = np.full((10 * k, k), -50.0)
    logits[np.arange(10 * k), np.arange(10 * k) % k] = 50.0
    assert inception_score(logits, splits=1).mean == pytest.approx(k, rel=1e-9)
    assert inception_score(logits, splits=5).mean == pytest.approx(k, rel=1e-9)  # every split balanced


def test_is_by_hand() -> None:
    # p1 = (½, ½), p2 = (1, 0): p(y) = (¾, ¼); KL1 = ½ ln(4/3), KL2 = ln(4/3); IS = exp(¾ ln(4/3)).
    logits = np.array([[0.0, 0.0], [50.0, -50.0]])
    assert inception_score(logits, splits=1).mean == pytest.approx((4 / 3) ** 0.75, rel=1e-9)


def one_layer(*vectors: list[float]) -> list[np.ndarray]:
    """One layer, a 1×1 grid: each image is one channel vector."""
    return [np.array(vectors, np.float64)[:, :, None, None]]


def test_perceptual_distance_by_hand() -> None:
    layers = one_layer([1.0, 0.0], [0.0, 5.0], [3.0, 0.0])
    d = perceptual_distances(layers)
    assert d[0, 1] == pytest.approx(2.0)  # orthogonal unit vectors: |e1 − e2|² = 2
    assert d[0, 2] == pytest.approx(0.0)  # channels are normalised: scale does not count
    assert np.allclose(np.diag(d), 0.0) and np.allclose(d, d.T)


def test_perceptual_distance_is_a_spatial_mean_summed_over_layers() -> None:
    # Layer 1: a 1×2 grid where only the second position differs (by 2): mean 1.
    first = np.array([[[[1.0, 1.0]], [[0.0, 0.0]]], [[[1.0, 0.0]], [[0.0, 1.0]]]])
    # Layer 2: opposite unit vectors at its one position: |e − (−e)|² = 4.
    second = np.array([[[[1.0]]], [[[-1.0]]]])
    d = perceptual_distances([first, second])
    assert d[0, 1] == pytest.approx(1.0 + 4.0)


def test_unit_normalise_gives_unit_channel_vectors() -> None:
    maps = unit_normalise(np.random.default_rng(0).normal(size=(2, 5, 3, 4)))
    assert np.allclose((maps**2).sum(axis=1), 1.0)


def test_ic_lpips_by_hand() -> None:
    # 5 generated, 3 references: images 0,1,2 are nearest reference 0, images 3,4 reference 1,
    # reference 2 gets nobody.
    to_references = np.array([[0.1, 0.9, 0.8], [0.2, 0.7, 0.9], [0.1, 0.5, 0.6], [0.9, 0.1, 0.5], [0.8, 0.3, 0.4]])
    pairwise = np.array([
        [0.0, 0.2, 0.4, 9.0, 9.0],
        [0.2, 0.0, 0.6, 9.0, 9.0],
        [0.4, 0.6, 0.0, 9.0, 9.0],
        [9.0, 9.0, 9.0, 0.0, 0.3],
        [9.0, 9.0, 9.0, 0.3, 0.0],
    ])
    result = ic_lpips(to_references, pairwise)
    assert result.sizes == [3, 2, 0]
    assert result.per_cluster[:2] == pytest.approx([0.4, 0.3]) and math.isnan(result.per_cluster[2])
    assert result.value == pytest.approx(0.35)  # (0.4 + 0.3) / 2: the empty cluster has no pairs


def test_metric_features_through_a_tiny_backbone(tmp_path: Path) -> None:
    from transformers import ResNetConfig, ResNetForImageClassification

    from anomset.features.backbone import Backbone
    from anomset.quality.metric_features import classifier_logits, kid_features, perceptual_maps
    from tests.features.tiny_models import tiny_resnet

    images = list(np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8))
    backbone = Backbone(str(tiny_resnet(tmp_path / "r")), layers=["stage1", "stage2", "stage3"], image_size=64,
                        device="cpu")
    assert kid_features(backbone, images).shape == (6, 8 + 16 + 32)
    maps = perceptual_maps(backbone, images)
    assert [m.shape[1:] for m in maps] == [(8, 16, 16), (16, 8, 8), (32, 4, 4)]
    distances = perceptual_distances(maps)
    assert distances.shape == (6, 6) and np.allclose(np.diag(distances), 0.0, atol=1e-9)
    assert (distances[~np.eye(6, dtype=bool)] > 0).all()

    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=5)
    ResNetForImageClassification(config).save_pretrained(tmp_path / "cls")
    logits, record = classifier_logits(str(tmp_path / "cls"), images, image_size=32, device="cpu", batch_size=4)
    assert logits.shape == (6, 5) and record["model_type"] == "resnet" and record["image_size"] == [32, 32]
    assert inception_score(logits, splits=2).mean >= 1.0
