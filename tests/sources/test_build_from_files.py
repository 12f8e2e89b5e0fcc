"""A tiny end-to-end build from every file-based source, through the CLI."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from source_recipes import file_recipe, write_recipe
from source_trees import folder_tree, loco_tree, mvtec_tree, visa_tree

from anomset.cli import main

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
