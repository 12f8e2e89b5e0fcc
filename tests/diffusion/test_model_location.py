"""A local model folder is a location: out of the data hash, fingerprinted by its configs and weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from anomset.build.inputs import model_fingerprint
from anomset.errors import OutputError
from anomset.recipe import load_recipe
from anomset.recipe.identity import data_spec, model_locations
from anomset.workflow import build_dataset
from tests.conftest import write_recipe
from tests.diffusion.conftest import diffusion_recipe
from tests.helpers import tree_digest

BRICK_MODEL = "classes.brick.generate[0].params.model"


def _recipe(folder: Path, model: Path | str, name: str = "r.yaml", **params):
    return load_recipe(write_recipe(folder / name, diffusion_recipe(model, **params)))


def test_a_moved_model_folder_keeps_the_data_hash_and_bytes_and_resumes(tiny_pipeline_dir: Path,
                                                                       tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "sd"
    shutil.copytree(tiny_pipeline_dir, moved)
    a, b = _recipe(tmp_path, tiny_pipeline_dir, "a.yaml"), _recipe(tmp_path, moved, "b.yaml")
    assert a.data_hash == b.data_hash
    assert str(tiny_pipeline_dir) not in str(data_spec(a.resolved))
    assert model_locations(b.resolved)[BRICK_MODEL] == str(moved)
    assert model_fingerprint(str(moved)) == model_fingerprint(str(tiny_pipeline_dir))
    assert build_dataset(a, tmp_path / "out", progress=False).action == "new"
    assert build_dataset(b, tmp_path / "out", progress=False).action == "resume"  # same weights elsewhere
    build_dataset(b, tmp_path / "moved", progress=False)
    shards = {k: v for k, v in tree_digest(tmp_path / "out").items() if k.startswith("data/")}
    assert shards and shards == {k: v for k, v in tree_digest(tmp_path / "moved").items() if k.startswith("data/")}


def test_weights_changed_in_place_are_refused_at_resume(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    model = tmp_path / "sd"
    shutil.copytree(tiny_pipeline_dir, model)
    loaded = _recipe(tmp_path, model)
    build_dataset(loaded, tmp_path / "out", progress=False)
    before = model_fingerprint(str(model))
    weights = next(p for p in sorted((model / "unet").iterdir()) if p.suffix == ".safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other weights
    weights.write_bytes(bytes(data))
    assert model_fingerprint(str(model)) != before
    with pytest.raises(OutputError, match=r"other classes\.brick\.generate\[0\]\.params\.model data "
                                          r"\(model:\w+, now model:\w+\).*--overwrite"):
        build_dataset(_recipe(tmp_path, model), tmp_path / "out", progress=False)


def test_a_hub_id_and_its_revision_stay_in_the_data_hash(tmp_path: Path) -> None:
    hub = _recipe(tmp_path, "org/inpaint-a")
    assert model_locations(hub.resolved) == {}
    assert data_spec(hub.resolved)["classes"]["brick"]["generate"][0]["params"]["model"] == "org/inpaint-a"
    assert _recipe(tmp_path, "org/inpaint-b").data_hash != hub.data_hash
    assert _recipe(tmp_path, "org/inpaint-a", revision="v2").data_hash != hub.data_hash


def test_residual_backbone_folder_is_a_location(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    from tests.features.tiny_models import tiny_resnet

    here = tiny_resnet(tmp_path / "here")
    there = tmp_path / "there"
    shutil.copytree(here, there)
    recipes = [_recipe(tmp_path, "org/inpaint-a", f"{i}.yaml", mask_source="residual",
                       residual={"backbone": str(folder)}) for i, folder in enumerate((here, there))]
    assert recipes[0].data_hash == recipes[1].data_hash
    field = "classes.brick.generate[0].params.residual.backbone"
    assert model_locations(recipes[1].resolved)[field] == str(there)
    hub = _recipe(tmp_path, "org/inpaint-a", "h.yaml", mask_source="residual", residual={"backbone": "org/resnet"})
    assert hub.data_hash != recipes[0].data_hash
