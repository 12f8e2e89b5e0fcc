"""A build over a grayscale ``folder`` class writes grey images only, and records which classes are grey."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from source_recipes import file_recipe, write_recipe
from source_trees import gray_folder_tree

from anomset.recipe.load import load_recipe
from anomset.registry import SYNTHESIZERS
from anomset.workflow import build_dataset


def _images(out: Path, manifest: dict) -> dict[str, tuple[np.ndarray, dict]]:
    found = {}
    for shard in manifest["shards"]:
        with tarfile.open(out / shard["path"]) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        for name, data in members.items():
            if name.endswith(".image.png"):
                key = name[: -len(".image.png")]
                found[key] = (np.asarray(Image.open(io.BytesIO(data)).convert("RGB")),
                              json.loads(members[f"{key}.json"]))
    return found


def test_grayscale_class_builds_grey_images_only(tmp_path: Path) -> None:
    root = gray_folder_tree(tmp_path / "data")
    recipe = file_recipe("folder", root, ["steel", "widget"], generate=0)
    recipe["classes"] = {name: dict(plan) for name, plan in recipe["classes"].items()}  # one plan dict each
    # Every registered synthesizer on the grey class; the colour class gets a texture fill as control.
    # real_paste needs shown real defects, which this normals-only folder has none of: the synth
    # conformance suite checks it on grey inputs.
    model_free = [name for name, cls in SYNTHESIZERS if not cls.needs_shown_defects]
    recipe["classes"]["steel"]["generate"] = [{"synthesizer": name, "count": 3} for name in model_free]
    recipe["classes"]["widget"]["generate"] = [{"synthesizer": "opaque", "count": 3}]
    out = tmp_path / "out"
    result = build_dataset(load_recipe(write_recipe(tmp_path / "r.yaml", recipe)), out, progress=False)
    manifest = result.manifest
    assert manifest["classes"] == {"steel": {"grayscale": True, "foreground": "class"},
                                   "widget": {"grayscale": False, "foreground": "class"}}
    samples = _images(out, manifest)
    steel = {k: v for k, v in samples.items() if v[1]["class"] == "steel"}
    assert {meta["generator"] for _, meta in steel.values()} >= set(model_free)
    for key, (image, meta) in steel.items():
        assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]), (
            f"{key} ({meta['generator']}) is not grey")
    widget = [image for image, meta in samples.values() if meta["class"] == "widget"]
    assert any(not np.array_equal(im[..., 0], im[..., 2]) for im in widget)
    assert "Grayscale classes" in (out / "README.md").read_text() and "`steel`" in (out / "README.md").read_text()
