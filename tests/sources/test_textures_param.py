"""``textures: [...]`` on the MVTec-layout sources: a user's own surface class skips the foreground estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
from source_recipes import file_recipe, write_recipe
from source_trees import loco_tree, mvtec_surface_tree, mvtec_tree, visa_tree

from anomset.build.launch import prepare
from anomset.errors import RecipeError
from anomset.recipe.load import build_component, load_recipe
from anomset.registry import SOURCES


def _pool(tmp_path: Path, root: Path, **params):
    recipe = file_recipe("mvtec_ad", root, ["steel_sheet"], **params)
    recipe["classes"]["steel_sheet"]["generate"] = [{"synthesizer": "draem", "count": 2}]
    prepared = prepare(load_recipe(write_recipe(tmp_path / "r.yaml", recipe)))
    return prepared.renderer.pools["steel_sheet"]


def test_mvtec_layout_texture_class_is_all_foreground(tmp_path: Path) -> None:
    root = mvtec_surface_tree(tmp_path / "data")
    as_object = _pool(tmp_path, root)
    key = as_object.normals[0].key
    assert not as_object.is_texture
    assert not as_object.load(key).foreground.all(), "the frame should fool the foreground estimate"
    as_texture = _pool(tmp_path, root, textures=["steel_sheet"])
    assert as_texture.is_texture
    loaded = as_texture.load(key)
    assert loaded.foreground.all() and not loaded.regions


def test_textures_add_to_the_builtin_list(tmp_path: Path) -> None:
    root = mvtec_tree(tmp_path / "data", classes=("bottle", "carpet", "steel"))
    source = SOURCES.get("mvtec_ad")(root=str(root), textures=["steel"])
    assert [source.is_texture(c) for c in ("bottle", "carpet", "steel")] == [False, True, True]
    assert source.resolved_params()["textures"] == ["steel"]


@pytest.mark.parametrize(("name", "tree", "cls"), [("mvtec_loco", loco_tree, "breakfast_box"),
                                                   ("visa", visa_tree, "candle")])
def test_other_layouts_take_textures(name, tree, cls, tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    assert not SOURCES.get(name)(root=str(root)).is_texture(cls)
    assert SOURCES.get(name)(root=str(root), textures=[cls]).is_texture(cls)


@pytest.mark.parametrize("name", ["mvtec_ad", "visa"])
def test_unknown_texture_class_is_a_one_line_error(name, tmp_path: Path) -> None:
    root = (mvtec_tree if name == "mvtec_ad" else visa_tree)(tmp_path / "data")
    with pytest.raises(RecipeError, match=r"source\.params\.textures.*unknown class 'nope'") as caught:
        build_component(SOURCES, name, {"root": str(root), "textures": ["nope"]}, file="r.yaml",
                        field="source.type")
    assert "\n" not in str(caught.value)
