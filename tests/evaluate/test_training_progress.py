"""Detectors report each training epoch to whoever listens (the eval's bar), without changing what they learn."""

from __future__ import annotations

import numpy as np
import pytest

from anomset.registry import DETECTORS
from tests.evaluate.toy_sets import defect_set

SMALL = {
    "unet": {"image_size": 32, "base_channels": 4, "depth": 2, "epochs": 2, "batch_size": 8, "device": "cpu"},
    "draem_split": {"image_size": 32, "epochs": 2, "batch_size": 8, "device": "cpu"},
    "resnet_cls": {"image_size": 32, "depths": [1, 1], "widths": [4, 8], "epochs": 2, "batch_size": 8,
                   "device": "cpu"},
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_each_epoch_is_reported_and_learning_is_unchanged(name: str) -> None:
    train = defect_set(0, normals=8, anomalies=8)
    cls = DETECTORS.get(name)
    quiet = cls(**SMALL[name]).fit(train)
    heard: list[str] = []
    told = cls(**SMALL[name])
    told.progress = heard.append
    told.fit(train)
    assert [line.split(",")[0] for line in heard] == ["epoch 1/2", "epoch 2/2"]
    assert all("loss " in line for line in heard)
    images = train.images[:4]
    assert np.array_equal(quiet.score(images)[1], told.score(images)[1])
