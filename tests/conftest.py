"""Shared fixtures: tiny toy recipes, single-threaded numerics, no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(autouse=True, scope="session")
def _file_check_cache(tmp_path_factory: pytest.TempPathFactory):
    """The pre-build file check caches into a temp folder, never the user's cache (subprocesses inherit it)."""
    before = os.environ.get("ANOMSET_CACHE_DIR")
    os.environ["ANOMSET_CACHE_DIR"] = str(tmp_path_factory.mktemp("anomset-cache"))
    yield
    if before is None:
        os.environ.pop("ANOMSET_CACHE_DIR", None)
    else:
        os.environ["ANOMSET_CACHE_DIR"] = before


def tiny_recipe(**overrides) -> dict:
    """A small toy recipe as a dict: 64 px, two classes, a few samples each. Override any top-level key."""
    recipe = {
        "name": "tiny",
        "version": "1.0.0",
        "license": "cc-by-4.0",
        "seed": 0,
        "source": {"type": "toy", "params": {"image_size": 64, "train_normals": 6, "test_normals": 3,
                                             "defects_per_type": 1, "classes": ["brick", "washer"]}},
        "output": {"image_size": 64, "shard_size": 5},
        "classes": {
            "brick": {"normals": {"train": 4, "test": "all"},
                      "generate": [{"synthesizer": "cutpaste", "count": 3},
                                   {"synthesizer": "draem", "count": 3}]},
            "washer": {"normals": {"train": 4, "test": 2},
                       "generate": [{"synthesizer": "draem", "count": 4, "mask": {"strategy": "ellipse"}}]},
        },
    }
    recipe.update(overrides)
    return recipe


def many_shards_recipe(folder: Path, count: int = 12) -> Path:
    """The tiny recipe with two samples a shard and ``count`` CutPaste bricks: a build long enough to interrupt."""
    recipe = tiny_recipe()
    recipe["output"]["shard_size"] = 2
    recipe["classes"]["brick"]["generate"][0]["count"] = count
    return write_recipe(folder / "many.yaml", recipe)


def invisible_washer_recipe() -> dict:
    """The tiny recipe, three samples a shard, with a washer DRAEM entry of zero opacity: it fails to render."""
    recipe = tiny_recipe()
    recipe["output"]["shard_size"] = 3
    recipe["classes"]["washer"]["generate"][0].update(params={"opacity": [0.0, 0.0]}, max_redraws=2)
    return recipe


def write_recipe(path: Path, recipe: dict) -> Path:
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture
def tiny_recipe_path(tmp_path: Path) -> Path:
    return write_recipe(tmp_path / "tiny.yaml", tiny_recipe())
