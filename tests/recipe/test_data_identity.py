"""The data spec, its hash and the recipe diff; every path-like param is declared a location."""

from __future__ import annotations

import re

import pytest

from anomset.recipe import load_recipe_text
from anomset.recipe.identity import changed_fields, data_spec, locations, model_locations
from anomset.registry import MASKS, SOURCES, SYNTHESIZERS
from tests.conftest import tiny_recipe

PATH_LIKE = re.compile(r"(^root$|_dir$|_path$|_folder$)")


def _loaded(recipe: dict):
    import yaml

    return load_recipe_text(yaml.safe_dump(recipe))


@pytest.mark.parametrize("registry", [SOURCES, SYNTHESIZERS, MASKS], ids=["sources", "synthesizers", "masks"])
def test_path_like_params_are_locations(registry) -> None:
    for name in registry.names():
        cls = registry.get(name)
        path_like = {f for f in cls.Params.model_fields if PATH_LIKE.search(f)}
        assert path_like <= set(cls.LOCATION_PARAMS), f"{name}: declare {path_like} in LOCATION_PARAMS"


def test_metadata_and_locations_are_out_of_the_data_hash() -> None:
    base = tiny_recipe()
    edited = tiny_recipe(name="other", version="2.0.0", description="d", license="mit", pretty_name="P",
                         hub={"repo": "org/x"}, output={**base["output"], "dir": "elsewhere"})
    edited["classes"]["brick"]["generate"][1]["params"] = {"texture_dir": "/somewhere/dtd"}
    base["classes"]["brick"]["generate"][1]["params"] = {"texture_dir": "/else/dtd"}
    a, b = _loaded(base), _loaded(edited)
    assert a.data_hash == b.data_hash
    assert a.recipe_hash != b.recipe_hash
    assert "texture_dir" not in str(data_spec(a.resolved)) and "name" not in data_spec(a.resolved)
    assert locations(b.resolved) == {"classes.brick.generate[1].params.texture_dir": "/somewhere/dtd"}
    assert _loaded(tiny_recipe(seed=3)).data_hash != a.data_hash


def test_changed_fields_name_the_leaf() -> None:
    base = _loaded(tiny_recipe())
    recipe = tiny_recipe()
    recipe["classes"]["brick"]["generate"][0]["count"] = 9
    recipe["classes"]["washer"]["generate"][0]["mask"]["params"] = {"area_ratio": [0.01, 0.02]}
    recipe["classes"]["washer"]["shown_selection"] = "random"
    changed = changed_fields(base.data, _loaded(recipe).data)
    assert changed == ["classes.brick.generate[0].count", "classes.washer.shown_selection",
                       "classes.washer.generate[0].mask.params.area_ratio"]
    longer = tiny_recipe()
    longer["classes"]["brick"]["generate"].append({"synthesizer": "nsa", "count": 1})
    assert changed_fields(base.data, _loaded(longer).data) == ["classes.brick.generate"]
    assert changed_fields(base.data, base.data) == []


def test_model_folders_are_locations_and_hub_ids_are_data(tmp_path) -> None:
    import shutil

    from tests.features.tiny_models import tiny_resnet, tiny_vit

    resnet, vit = tiny_resnet(tmp_path / "a" / "resnet"), tiny_vit(tmp_path / "a" / "vit")
    shutil.copytree(tmp_path / "a", tmp_path / "b")

    def recipe(backbone: str, cluster_backbone: str, revision: str | None = None) -> dict:
        made = tiny_recipe()
        made["classes"]["brick"]["quality"] = {"filter": "ars", "keep_top": 0.5,
                                               "params": {"backbone": backbone, "revision": revision}}
        made["concepts"] = {"dir": str(tmp_path / "concepts"), "model": "org/inpaint",
                            "cluster": {"backbone": cluster_backbone}}
        return made

    here = _loaded(recipe(str(resnet), str(vit)))
    there = _loaded(recipe(str(tmp_path / "b" / "resnet"), str(tmp_path / "b" / "vit")))
    assert here.data_hash == there.data_hash and here.recipe_hash == there.recipe_hash
    assert set(model_locations(there.resolved)) == {"classes.brick.quality.params.backbone",
                                                    "classes.brick.generate[0].quality.params.backbone",
                                                    "classes.brick.generate[1].quality.params.backbone",
                                                    "concepts.cluster.backbone"}
    assert str(tmp_path) not in str(data_spec(here.resolved))
    hub = _loaded(recipe("org/resnet", str(vit)))
    assert hub.data_hash != here.data_hash
    assert _loaded(recipe("org/resnet", str(vit), revision="v2")).data_hash != hub.data_hash
    assert _loaded(recipe("org/resnet-b", str(vit))).data_hash != hub.data_hash
    assert "concepts.model" not in model_locations(hub.resolved)  # a Hub id: data
