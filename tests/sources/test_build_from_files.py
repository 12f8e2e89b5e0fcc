"""A tiny end-to-end build from every file-based source, through the CLI."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from source_recipes import file_recipe, write_recipe
from source_trees import folder_tree, image, loco_tree, mvtec_tree, visa_tree, write

from anomset.cli import main
from anomset.errors import OutputError
from anomset.recipe.load import LoadedRecipe, load_recipe
from anomset.workflow import build_dataset

CASES = {
    "mvtec_ad": (mvtec_tree, ["bottle", "carpet"], {}),
    "mvtec_loco": (loco_tree, ["breakfast_box"], {}),
    "visa": (visa_tree, ["candle"], {}),
    "folder": (folder_tree, ["fabric", "widget"], {"textures": ["fabric"]}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_build(name: str, tmp_path: Path) -> None:
    tree, classes, params = CASES[name]
    root = tree(tmp_path / "data")
    recipe = write_recipe(tmp_path / "r.yaml", file_recipe(name, root, classes, **params))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(recipe), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["type"] == name and manifest["source"]["fingerprint"].startswith(f"{name}:")
    assert sorted(manifest["counts"]) == classes
    metas = []
    for shard in manifest["shards"]:
        with tarfile.open(out / shard["path"]) as tar:
            metas += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    real = [m for m in metas if m["origin"] == "real"]
    assert real and all(m["mask_area"] > 0 and m["split"] == "test" for m in real)
    assert sum(m["generator"] == "cutpaste" for m in metas) == 2 * len(classes)
    assert all(m["source_key"].startswith(m["class"] + "/") for m in metas)


def _mvtec_build(tmp_path: Path, root: Path, name: str) -> tuple[LoadedRecipe, Path]:
    recipe = write_recipe(tmp_path / f"{name}.yaml", file_recipe("mvtec_ad", root, ["bottle"]))
    return load_recipe(recipe), tmp_path / name


def test_the_same_data_elsewhere_gives_the_same_bytes_and_resumes(tmp_path: Path) -> None:
    here = mvtec_tree(tmp_path / "here")
    there = shutil.copytree(here, tmp_path / "elsewhere" / "there")
    loaded_here, out_here = _mvtec_build(tmp_path, here, "out-here")
    loaded_there, out_there = _mvtec_build(tmp_path, there, "out-there")
    assert loaded_here.data_hash == loaded_there.data_hash  # the root says where, not what
    build_dataset(loaded_here, out_here, progress=False)
    build_dataset(loaded_there, out_there, progress=False)
    assert (out_here / "manifest.json").read_bytes() == (out_there / "manifest.json").read_bytes()
    shards = sorted(p.relative_to(out_here) for p in (out_here / "data").rglob("*.tar"))
    assert shards and all((out_here / s).read_bytes() == (out_there / s).read_bytes() for s in shards)
    moved = build_dataset(loaded_there, out_here, progress=False)  # the data moved: the build resumes
    assert (moved.action, moved.shards_written) == ("resume", 0)


def test_other_data_under_the_same_recipe_is_refused_unless_overwrite(tmp_path: Path) -> None:
    root = mvtec_tree(tmp_path / "data")
    loaded, out = _mvtec_build(tmp_path, root, "out")
    built = build_dataset(loaded, out, progress=False).manifest
    write(root / "bottle" / "train" / "good" / "999.png", image(99))  # the data changed under the same recipe
    manifest_before = (out / "manifest.json").read_bytes()
    with pytest.raises(OutputError, match="other source data") as refused:
        build_dataset(load_recipe(loaded.path), out, progress=False)
    assert "--overwrite" in refused.value.fix and (out / "manifest.json").read_bytes() == manifest_before
    rebuilt = build_dataset(load_recipe(loaded.path), out, overwrite=True, progress=False)
    assert rebuilt.action == "overwrite"
    assert rebuilt.manifest["source"]["fingerprint"] != built["source"]["fingerprint"]
    assert rebuilt.manifest["counts"]["bottle"] != built["counts"]["bottle"]
