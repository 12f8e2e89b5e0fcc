"""The data is a function of the data-defining recipe fields only: metadata edits keep every byte."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from anomset.errors import OutputError
from anomset.recipe import load_recipe
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe
from tests.helpers import tree_digest

METADATA = {"name": "renamed", "version": "1.0.1", "description": "A better card.", "license": "mit",
            "pretty_name": "Renamed set", "hub": {"repo": "org/renamed", "private": True}}


def _shards(folder: Path) -> dict[str, str]:
    return {k: v for k, v in tree_digest(folder).items() if k.startswith("data/")}


def _jsons(folder: Path) -> list[dict]:
    found = []
    for shard in sorted((folder / "data").rglob("*.tar")):
        with tarfile.open(shard) as tar:
            found += [json.load(tar.extractfile(m)) for m in tar.getmembers() if m.name.endswith(".json")]
    return found


def test_metadata_edit_keeps_the_bytes_and_resumes(tmp_path: Path) -> None:
    first = load_recipe(write_recipe(tmp_path / "a.yaml", tiny_recipe()))
    second = load_recipe(write_recipe(tmp_path / "b.yaml", tiny_recipe(**METADATA)))
    assert first.data_hash == second.data_hash and first.recipe_hash != second.recipe_hash
    build_dataset(first, tmp_path / "a", progress=False)
    build_dataset(second, tmp_path / "b", progress=False)
    shards = _shards(tmp_path / "a")
    assert shards and shards == _shards(tmp_path / "b")  # whole tars, so every image and mask member
    assert {s["data_hash"] for s in _jsons(tmp_path / "a")} == {first.data_hash}
    assert "recipe_hash" not in _jsons(tmp_path / "a")[0]

    result = build_dataset(second, tmp_path / "a", progress=False)  # the edit over the existing build
    assert (result.action, result.shards_written) == ("resume", 0)
    assert _shards(tmp_path / "a") == shards
    assert result.manifest["version"] == "1.0.1" and result.manifest["name"] == "renamed"
    assert result.manifest["data_hash"] == first.data_hash
    assert "A better card." in (tmp_path / "a" / "README.md").read_text()
    assert "data_hash: " + first.data_hash in (tmp_path / "a" / "recipe.yaml").read_text()


def test_seed_draws_another_dataset(tmp_path: Path) -> None:
    first = load_recipe(write_recipe(tmp_path / "a.yaml", tiny_recipe()))
    other = load_recipe(write_recipe(tmp_path / "b.yaml", tiny_recipe(seed=1)))
    assert first.data_hash != other.data_hash
    build_dataset(first, tmp_path / "a", progress=False)
    build_dataset(other, tmp_path / "b", progress=False)
    a, b = _shards(tmp_path / "a"), _shards(tmp_path / "b")
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)


def test_data_edit_is_refused_naming_the_field(tmp_path: Path) -> None:
    build_dataset(load_recipe(write_recipe(tmp_path / "a.yaml", tiny_recipe())), tmp_path / "out", progress=False)
    recipe = tiny_recipe(description="also changed")
    recipe["classes"]["brick"]["generate"][0]["count"] = 4
    edited = load_recipe(write_recipe(tmp_path / "b.yaml", recipe))
    with pytest.raises(OutputError, match=r"its data differs in classes\.brick\.generate\[0\]\.count\)"):
        build_dataset(edited, tmp_path / "out", progress=False)
    assert build_dataset(edited, tmp_path / "out", overwrite=True, progress=False).action == "overwrite"


def _texture_folder(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(3):
        (folder / "sub").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "sub" / f"t{i}.png"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return folder


def _texture_recipe(path: Path, textures: Path) -> Path:
    recipe = tiny_recipe()
    recipe["classes"]["brick"]["generate"][1]["params"] = {"texture_dir": str(textures)}
    return write_recipe(path, recipe)


def test_texture_dir_is_a_location_fingerprinted_by_content(tmp_path: Path) -> None:
    here = _texture_folder(tmp_path / "here")
    there = tmp_path / "elsewhere" / "textures"
    shutil.copytree(here, there)
    a = load_recipe(_texture_recipe(tmp_path / "a.yaml", here))
    b = load_recipe(_texture_recipe(tmp_path / "b.yaml", there))
    assert a.data_hash == b.data_hash
    build_dataset(a, tmp_path / "a", progress=False)
    build_dataset(b, tmp_path / "b", progress=False)
    assert _shards(tmp_path / "a") == _shards(tmp_path / "b")
    names = [s["generator_params"]["texture"] for s in _jsons(tmp_path / "a") if s["generator"] == "draem"
             and s["class"] == "brick"]
    assert names and all(n.startswith("texture_dir:sub/t") for n in names)
    assert not any(str(tmp_path) in json.dumps(s) for s in _jsons(tmp_path / "a"))
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert list(manifest["locations"]) == ["classes.brick.generate[1].params.texture_dir"]

    assert build_dataset(b, tmp_path / "a", progress=False).action == "resume"  # the folder moved: same data
    cv2.imwrite(str(there / "sub" / "t9.png"), np.zeros((40, 40, 3), np.uint8))  # other textures there now
    with pytest.raises(OutputError, match=r"other classes\.brick\.generate\[1\]\.params\.texture_dir data"):
        build_dataset(b, tmp_path / "a", progress=False)
