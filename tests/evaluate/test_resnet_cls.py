"""resnet_cls: defect-type accuracy, anomaly scores and CAM maps on the toy defects, clusters, seeds, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from anomset.evaluate.detectors import DetectorError, TrainSet
from anomset.evaluate.metrics import accuracy, auroc
from anomset.registry import DETECTORS
from tests.evaluate.toy_sets import defect_set, pixel_auroc

TINY = {"depths": [1, 1, 1], "widths": [8, 16, 32], "image_size": 32, "epochs": 25, "batch_size": 8,
        "lr": 3e-3, "device": "cpu"}


def test_resnet34_by_default() -> None:
    from transformers import ResNetConfig

    p = DETECTORS.get("resnet_cls")().params
    config = ResNetConfig(hidden_sizes=p.widths, depths=p.depths, layer_type="basic")
    assert (config.depths, config.hidden_sizes, config.layer_type) == ([3, 4, 6, 3], [64, 128, 256, 512], "basic")


def test_resnet_cls_learns_defect_types_and_scores_anomalies() -> None:
    train, test = defect_set(0, normals=16, anomalies=32), defect_set(1, normals=12, anomalies=12)
    detector = DETECTORS.get("resnet_cls")(**TINY, seed=1)
    assert detector.fit(train) is detector
    assert detector.classes_ == ["good", "bar", "square"]
    assert detector.losses_[-1] < detector.losses_[0]
    defective = test.labels == 1
    predicted = detector.classify(test.images[defective])
    assert set(predicted) <= {"bar", "square"}
    assert accuracy(predicted, np.array(test.defect_types)[defective]) >= 0.9
    image_scores, maps = detector.score(test.images)
    assert image_scores.shape == (24,) and maps.shape == (24, 32, 32) and maps.dtype == np.float32
    assert np.all((maps >= 0) & (maps <= 1))
    assert auroc(image_scores, test.labels) > 0.9
    assert pixel_auroc(maps, test.masks) > 0.7
    probabilities = detector.predict_proba(test.images)
    assert np.allclose(probabilities.sum(1), 1) and np.allclose(image_scores, 1 - probabilities[:, 0])


def test_cam_mean_is_the_image_logit() -> None:
    train = defect_set(0, normals=4, anomalies=4)
    detector = DETECTORS.get("resnet_cls")(**{**TINY, "epochs": 1}).fit(train)
    x = detector._inputs(train.images)
    with torch.no_grad():
        pooled = detector.model_(pixel_values=x).pooler_output.flatten(1)
        assert torch.allclose(detector._local_logits(x).mean((2, 3)), detector.head_(pooled), atol=1e-5)


def test_labels_by_cluster_and_without_normals() -> None:
    train = defect_set(0, normals=4, anomalies=8)
    clusters = DETECTORS.get("resnet_cls")(**{**TINY, "epochs": 1}, label_by="cluster").fit(train)
    assert clusters.classes_ == ["good", "c0", "c1"]
    assert set(clusters.classify(train.images[:3])) <= {"c0", "c1"}
    anomalies_only = DETECTORS.get("resnet_cls")(**{**TINY, "epochs": 1}, include_normals=False).fit(train)
    assert anomalies_only.classes_ == ["bar", "square"]
    assert len(anomalies_only.classify(train.images[:2])) == 2
    with pytest.raises(DetectorError, match="no anomaly scores"):
        anomalies_only.score(train.images[:2])
    unclustered = TrainSet(train.images, train.masks, train.labels, train.defect_types, train.keys)
    with pytest.raises(DetectorError, match="have no cluster"):
        DETECTORS.get("resnet_cls")(**TINY, label_by="cluster").fit(unclustered)


def test_resnet_cls_is_seeded_and_loads_a_folder(tmp_path: Path) -> None:
    from tests.features.tiny_models import tiny_resnet

    train, test = defect_set(0, normals=4, anomalies=4), defect_set(1, normals=2, anomalies=2)
    params = {**TINY, "epochs": 2, "seed": 3}
    a = DETECTORS.get("resnet_cls")(**params).fit(train).score(test.images)
    b = DETECTORS.get("resnet_cls")(**params).fit(train).score(test.images)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = DETECTORS.get("resnet_cls")(**{**params, "seed": 4}).fit(train).score(test.images)
    assert not np.array_equal(c[0], a[0])
    folder = tiny_resnet(tmp_path / "resnet")
    pretrained = DETECTORS.get("resnet_cls")(**params, backbone=str(folder)).fit(train)
    assert pretrained.head_.in_features == 64 and pretrained.score(test.images)[1].shape == (4, 32, 32)


def test_resnet_cls_bad_params() -> None:
    cls = DETECTORS.get("resnet_cls")
    with pytest.raises(ValidationError, match="give one width each"):
        cls(depths=[1, 1], widths=[8])
    with pytest.raises(ValidationError, match="label_by"):
        cls(label_by="colour")
    with pytest.raises(ValidationError, match="no such model folder"):
        cls(backbone="./missing/model")
    with pytest.raises(DetectorError, match="call fit before"):
        cls().classify(np.zeros((1, 8, 8, 3), np.uint8))


def test_plain_cross_entropy_by_default() -> None:
    """Inverse-frequency weights would give the few-shot real types (2 images each in the toy eval) ~30x a
    normal's weight; the default is the papers' unweighted loss, weighting stays available."""
    cls = DETECTORS.get("resnet_cls")
    assert cls().params.balanced is False
    assert cls(balanced=True).params.balanced is True
