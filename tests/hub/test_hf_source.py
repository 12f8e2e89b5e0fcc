"""The ``hf`` source reads an anomset dataset, so one anomset dataset can seed another."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from anomset.dataset.reader import iter_decoded
from anomset.errors import RecipeError, SourceError
from anomset.recipe import load_recipe_text
from anomset.sources.hf import HfSource

from .conftest import build_tiny


def samples_by_key(out: Path) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    manifest = json.loads((out / "manifest.json").read_text())
    return {meta["key"]: (image, mask, meta) for image, mask, meta in iter_decoded(out, manifest)}


def test_index_maps_columns_back_to_source_items(built):
    source = HfSource(repo=str(built))
    assert source.classes() == ["brick", "washer"]
    counts = json.loads((built / "manifest.json").read_text())["counts"]
    brick = source.items("brick")
    normals = [i for i in brick if i.is_normal]
    assert len(normals) == counts["brick"]["train"]["by_generator"]["normal"] + counts["brick"]["test"][
        "by_generator"]["normal"]
    real = [i for i in brick if not i.is_normal]
    assert {i.split for i in real} == {"test"} and {i.defect_type for i in real} == {"crack", "hole", "stain"}
    assert not any(i.defect_type in ("cutpaste", "draem") for i in brick)  # synthetic ones skipped
    loaded = source.load(real[0])
    assert loaded.image.dtype == np.uint8 and loaded.image.shape == (64, 64, 3)
    assert loaded.mask is not None and set(np.unique(loaded.mask)) <= {0, 255} and loaded.mask.any()
    assert source.load(normals[0]).mask is None
    with_synth = HfSource(repo=str(built), include_synthetic=True, configs=["brick"])
    assert {"cutpaste", "draem"} <= {i.defect_type for i in with_synth.items("brick")}
    assert with_synth.classes() == ["brick"]


def test_one_anomset_dataset_seeds_another(built, tmp_path):
    recipe = {
        "name": "seeded", "version": "1.0.0", "license": "cc-by-4.0", "seed": 1,
        "source": {"type": "hf", "params": {"repo": str(built), "textures": ["brick"]}},
        "output": {"image_size": 64, "shard_size": 8},
        "classes": {"brick": {"normals": {"train": "all", "test": "all"},
                              "real_defects": {"train": 0, "test": "all"},
                              "generate": [{"synthesizer": "draem", "count": 2}]}},
    }
    out = build_tiny(tmp_path / "b", **recipe)
    first, second = samples_by_key(built), samples_by_key(out)
    copied = [s for s in second.values() if s[2]["origin"] in ("normal", "real")]
    assert len(copied) == 4 + 3 + 3
    for image, mask, meta in copied:
        origin_key = meta["source_key"].rsplit("/", 1)[1]
        src_image, src_mask, src_meta = first[origin_key]
        assert np.array_equal(image, src_image) and np.array_equal(mask, src_mask)
        assert meta["split"] == src_meta["split"] and meta["defect_type"] == src_meta["defect_type"]
    generated = [s for s in second.values() if s[2]["generator"] == "draem"]
    assert len(generated) == 2 and all(s[1].any() for s in generated)
    card = (out / "README.md").read_text()
    assert f"extended|{built}" in card


def test_missing_repo_and_class_are_clear_errors(built, tmp_path):
    with pytest.raises(SourceError, match="cannot load"):
        HfSource(repo=str(tmp_path / "nothing")).classes()
    with pytest.raises(SourceError, match="no class 'gravel'"):
        HfSource(repo=str(built)).items("gravel")
    with pytest.raises(RecipeError, match="bogus"):
        load_recipe_text("name: x\nsource: {type: hf, params: {repo: a/b, bogus: 1}}\nclasses: {a: {}}\n")
