"""Fixtures for the concept tests: a tiny ViT and a tiny inpainting pipeline, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.concepts.tiny_pipeline import build_tiny_inpaint
from tests.features.tiny_models import tiny_vit


@pytest.fixture(scope="session")
def vit(tmp_path_factory) -> Path:
    return tiny_vit(tmp_path_factory.mktemp("vit"))


@pytest.fixture(scope="session")
def tiny_pipe(tmp_path_factory) -> Path:
    return build_tiny_inpaint(tmp_path_factory.mktemp("pipe"))


def fewshot_recipe(folder: Path, vit: Path, model: Path | None = None, learn: dict | None = None,
                   generate: list | None = None, shown: str = "1/2") -> Path:
    """A one-class (washer, 6 shown defects of 3 types) toy recipe with a concepts: section."""
    recipe = {
        "name": "fewshot", "license": "cc-by-4.0",
        "source": {"type": "toy", "params": {"image_size": 64, "train_normals": 4, "test_normals": 2,
                                             "defects_per_type": 4, "classes": ["washer"]}},
        "output": {"image_size": 64, "shard_size": 8},
        "concepts": {"dir": str(folder / "concepts"), "model": str(model or folder / "no-model"),
                     "cluster": {"backbone": str(vit), "layers": ["stage1", "stage2"], "image_size": 32, "k_max": 4},
                     "learn": {"steps": 6, "batch_size": 2, "resolution": 32, "mask_size": 32, "save_every": 2,
                               **(learn or {})}},
        "classes": {"washer": {"shown_defects": shown,
                               "generate": generate or [{"synthesizer": "draem", "count": 2}]}},
    }
    path = folder / "fewshot.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path
