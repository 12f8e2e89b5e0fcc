"""A tiny toy build, eval recipes over it, and a fast deterministic test detector (registered for a test only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from anomset.configurable import StrictModel
from anomset.evaluate.detectors.base import Detector, TrainSet, check_images
from anomset.registry import DETECTORS

TINY_UNET = {"image_size": 32, "base_channels": 4, "depth": 2, "epochs": 2, "batch_size": 8, "device": "cpu"}
# The tiny conftest build's source with more defects per type, so the few-shot third is not empty.
TOY_TEST = {"type": "toy", "params": {"image_size": 64, "train_normals": 6, "test_normals": 3, "defects_per_type": 3,
                                      "classes": ["brick", "washer"]}}


class MeanDiffParams(StrictModel):
    seed: int = 0
    blur: int = 3


class MeanDiff(Detector):
    """Test detector: distance to the mean normal image (unsupervised, instant, deterministic)."""

    Params = MeanDiffParams

    def fit(self, train: TrainSet) -> MeanDiff:
        self.check_train(train)
        self.mean_ = train.images[train.labels == 0].astype(np.float32).mean(axis=0)
        return self

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = check_images(images).astype(np.float32)
        maps = np.abs(images - self.mean_).mean(axis=3)
        maps = np.stack([cv2.blur(m, (self.params.blur, self.params.blur)) for m in maps]).astype(np.float32)
        return maps.reshape(len(maps), -1).max(axis=1).astype(np.float64), maps


def register_mean_diff() -> None:
    if "mean_diff" not in DETECTORS:
        DETECTORS.register("mean_diff")(MeanDiff)


def unregister_mean_diff() -> None:
    DETECTORS._entries.pop("mean_diff", None)


def eval_recipe(dataset: Path, **overrides: Any) -> dict[str, Any]:
    recipe: dict[str, Any] = {
        "dataset": str(dataset),
        "test": {"source": TOY_TEST},
        "detectors": [{"type": "mean_diff"}],
        "protocols": ["plain"],
        "seeds": [0, 1],
    }
    recipe.update(overrides)
    return recipe


def write_eval(path: Path, recipe: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path
