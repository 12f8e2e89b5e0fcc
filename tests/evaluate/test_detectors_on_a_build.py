"""The four reference detectors on a real (tiny) build read back through ``TrainSet.from_built``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_recipe, write_recipe

from anomset.evaluate.detectors import TestSet, TrainSet
from anomset.evaluate.detectors.draem_split import parity_split
from anomset.recipe import load_recipe
from anomset.registry import DETECTORS
from anomset.workflow import build_dataset
from tests.features.tiny_models import tiny_resnet


@pytest.fixture(scope="module")
def build_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("build")
    build_dataset(load_recipe(write_recipe(folder / "r.yaml", tiny_recipe())), folder / "out", progress=False)
    return folder


@pytest.fixture(scope="module")
def built(build_folder: Path) -> tuple[TrainSet, TestSet, Path]:
    out = build_folder / "out"
    return (TrainSet.from_built(out, "brick", "train"), TestSet.from_built(out, "brick", "test"),
            tiny_resnet(build_folder / "resnet"))


def test_draem_pairs_each_anomaly_with_the_normal_it_was_made_from(built) -> None:
    train, _, _ = built
    assert train.metas is not None and train.meta_field("origin")[:4] == ["normal"] * 4
    recon, target, _ = parity_split(train)
    anomalies = [(i, j) for i, j in zip(recon, target, strict=True) if train.labels[i] == 1]
    assert anomalies
    for i, j in anomalies:  # the same pixels outside the defect: the clean target is the right normal
        outside = train.masks[i] == 0
        assert np.array_equal(train.images[i][outside], train.images[j][outside])


def test_the_eval_train_set_keeps_the_json_that_pairs_draems_anomalies(build_folder: Path) -> None:
    """``anomset eval`` hands detectors its pool through ``Samples.image_set``: without each sample's json
    every anomaly would fall on the discriminator's side and the reconstructor would only copy normals."""
    from anomset.evaluate.data import BuiltDataset

    train = BuiltDataset(build_folder / "out", "eval.yaml").samples("brick", "train", (64, 64)).image_set()
    assert train.metas is not None and train.meta_field("source_key")[0]
    recon, target, _ = parity_split(train)
    assert train.labels[recon].sum() > 0
    assert all(train.metas[i]["source_key"] == train.metas[j]["source_key"] for i, j in zip(recon, target, strict=True))


@pytest.mark.parametrize("name, params", [
    ("memory_bank", {"layers": ["stage1", "stage2"], "image_size": 64}),
    ("dual_memory", {"layers": ["stage1", "stage2"], "image_size": 64}),
    ("resnet_cls", {"depths": [1, 1], "widths": [8, 16], "image_size": 64, "epochs": 2}),
    ("draem_split", {"image_size": 64, "reconstruction_width": 4, "discriminator_width": 4, "depth": 2,
                     "epochs": 2, "score_window": 5}),
])
def test_reference_detectors_fit_and_score_a_build(built, name: str, params: dict) -> None:
    train, test, resnet = built
    if name in ("memory_bank", "dual_memory"):
        params = {**params, "backbone": str(resnet)}
    detector = DETECTORS.get(name)(**params, device="cpu").fit(train)
    image_scores, maps = detector.score(test.images)
    assert image_scores.shape == (len(test),) and np.isfinite(image_scores).all()
    assert maps.shape == test.masks.shape and maps.dtype == np.float32 and np.isfinite(maps).all()
