"""The output folder is a dataset repo: load_dataset reads configs, splits and declared features."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anomset.recipe import load_recipe
from anomset.workflow import build_dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import tiny_recipe, write_recipe

    tmp = tmp_path_factory.mktemp("ds")
    out = tmp / "out"
    build_dataset(load_recipe(write_recipe(tmp / "r.yaml", tiny_recipe())), out, progress=False)
    return out


def _load(*args, **kwargs):
    from datasets import load_dataset

    return load_dataset(*args, **kwargs)


def test_default_config_has_every_class(built: Path, tmp_path: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    ds = _load(str(built), cache_dir=str(tmp_path / "cache"))
    assert set(ds) == {"train", "test"}
    for split in ("train", "test"):
        expected = sum(c[split]["samples"] for c in manifest["counts"].values())
        assert ds[split].num_rows == expected
    classes = {row["class"] for row in ds["train"]["json"]}
    assert classes == {"brick", "washer"}


def test_per_class_config_features_and_values(built: Path, tmp_path: Path) -> None:
    ds = _load(str(built), "washer", cache_dir=str(tmp_path / "cache"))
    features = ds["train"].features
    assert type(features["image.png"]).__name__ == "Image"
    assert type(features["mask.png"]).__name__ == "Image"
    assert features["cls"].dtype == "int64"
    rows = list(ds["train"])
    assert {r["json"]["class"] for r in rows} == {"washer"}
    labels = [r["cls"] for r in rows]
    assert labels.count(1) == 4 and labels.count(0) == 4
    for row in rows:
        image, mask = row["image.png"], row["mask.png"]
        assert isinstance(image, Image.Image) and image.size == (64, 64) and image.mode == "RGB"
        mask_array = np.asarray(mask)
        assert mask_array.shape == (64, 64) and set(np.unique(mask_array)) <= {0, 255}
        meta = row["json"]
        assert meta["mask_area"] == int((mask_array > 0).sum())
        assert (meta["mask_area"] > 0) == (row["cls"] == 1)
        assert None not in meta.values()


def test_streaming_matches(built: Path, tmp_path: Path) -> None:
    streamed = _load(str(built), "brick", streaming=True)
    keys = [row["__key__"] for row in streamed["test"]]
    eager = _load(str(built), "brick", cache_dir=str(tmp_path / "cache"))
    assert keys == eager["test"]["__key__"]
    first = next(iter(streamed["train"]))
    assert isinstance(first["json"], dict) and first["json"]["class"] == "brick"
