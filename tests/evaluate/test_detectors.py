"""The detector contract over the registry, and the U-Net on a trivially separable toy (bright squares)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from anomset.evaluate.detectors import Detector, DetectorError, TestSet, TrainSet
from anomset.evaluate.metrics import PixelMetricAccumulator, auroc
from anomset.recipe import load_recipe
from anomset.registry import DETECTORS
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe

FAST_UNET = {"image_size": 32, "base_channels": 8, "depth": 2, "epochs": 12, "batch_size": 8, "lr": 3e-3}


def squares(seed: int, count: int, size: int = 32) -> TrainSet:
    """Gray noise; every other image has one bright square (the defect) of random size and place."""
    rng = np.random.default_rng(seed)
    images = rng.integers(60, 140, (count, size, size, 1)).repeat(3, axis=3).astype(np.uint8)
    masks = np.zeros((count, size, size), np.uint8)
    for i in range(0, count, 2):
        side = int(rng.integers(4, 10))
        y, x = rng.integers(0, size - side, 2)
        masks[i, y:y + side, x:x + side] = 255
        images[i, y:y + side, x:x + side] = 230
    labels = (masks.reshape(count, -1).max(1) > 0).astype(int)
    return TrainSet(images, masks, labels, ["square" if label else "good" for label in labels],
                    [f"toy-{seed}-{i}" for i in range(count)])


def test_every_detector_is_a_configurable_detector() -> None:
    assert "unet" in DETECTORS.names()
    for _name, cls in DETECTORS:
        assert issubclass(cls, Detector) and cls.describe()
        detector = cls()
        assert detector.resolved_params() == cls(**detector.resolved_params()).resolved_params()
        with pytest.raises(ValidationError, match="unknown field"):
            cls(no_such_param=1)


def test_listing_detectors_does_not_import_torch() -> None:
    code = "import sys; from anomset.registry import DETECTORS; DETECTORS.names(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_unet_params_are_validated() -> None:
    unet = DETECTORS.get("unet")
    with pytest.raises(ValidationError, match="multiple of 2\\*\\*depth"):
        unet(image_size=36, depth=3)
    with pytest.raises(ValidationError, match="image_score"):
        unet(image_score="mean")
    with pytest.raises(DetectorError, match="call fit before score"):
        unet().score(np.zeros((1, 8, 8, 3), np.uint8))


def test_unet_learns_bright_squares() -> None:
    train, test = squares(0, 32), squares(1, 16)
    detector = DETECTORS.get("unet")(**FAST_UNET, seed=3)
    assert detector.fit(train) is detector
    image_scores, maps = detector.score(test.images)
    assert image_scores.shape == (16,) and maps.shape == (16, 32, 32) and maps.dtype == np.float32
    accumulator = PixelMetricAccumulator()
    for score_map, mask in zip(maps, test.masks, strict=True):
        accumulator.update(score_map, mask)
    assert accumulator.compute().auroc > 0.9
    assert auroc(image_scores, test.labels) > 0.9
    assert detector.losses_[-1] < detector.losses_[0]


def test_unet_is_deterministic_on_cpu_and_maps_follow_the_input_size() -> None:
    train = squares(0, 8)
    params = {**FAST_UNET, "epochs": 2, "device": "cpu", "seed": 5}
    first = DETECTORS.get("unet")(**params).fit(train)
    second = DETECTORS.get("unet")(**params).fit(train)
    big = np.repeat(np.repeat(train.images[:3], 2, axis=1), 2, axis=2)  # 64² images through a 32² model
    a, b = first.score(big), second.score(big)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[1].shape == (3, 64, 64)
    other = DETECTORS.get("unet")(**{**params, "seed": 6}).fit(train)
    assert not np.array_equal(other.score(big)[1], a[1])
    topk = DETECTORS.get("unet")(**params, image_score="topk", topk=0.05).fit(train)
    assert np.all(topk.score(big)[0] <= a[1].reshape(3, -1).max(1) + 1e-6)


def test_supervised_detector_refuses_a_train_set_without_anomalies() -> None:
    normals = squares(0, 8)
    keep = normals.labels == 0
    only_normals = TrainSet(normals.images[keep], normals.masks[keep], normals.labels[keep],
                            [t for t, k in zip(normals.defect_types, keep, strict=True) if k],
                            [t for t, k in zip(normals.keys, keep, strict=True) if k])
    with pytest.raises(DetectorError, match="supervised but the training set has no anomalies"):
        DETECTORS.get("unet")(**FAST_UNET).fit(only_normals)


def test_image_sets_from_a_build(tmp_path: Path) -> None:
    build_dataset(load_recipe(write_recipe(tmp_path / "r.yaml", tiny_recipe())), tmp_path / "out", progress=False)
    train = TrainSet.from_built(tmp_path / "out", "brick", "train")
    test = TestSet.from_built(tmp_path / "out", "brick", "test")
    assert len(train) == 10 and train.anomalies == 6 and train.images.shape[1:] == (64, 64, 3)
    assert all(k.startswith("brick-train-") for k in train.keys)
    assert test.anomalies == sum(t != "good" for t in test.defect_types) and (test.masks[test.labels == 0] == 0).all()
    with pytest.raises(DetectorError, match="no class 'cable'"):
        TrainSet.from_built(tmp_path / "out", "cable", "train")
    with pytest.raises(ValueError, match="masks must be"):
        TrainSet(train.images, train.masks[:, :8], train.labels, train.defect_types, train.keys)
