"""The recipe's ``quality:`` blocks: validated at load (one line each), inherited by entries, in the data hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from anomset.cli import main
from anomset.errors import RecipeError
from anomset.quality.ars import Ars
from anomset.recipe import load_recipe
from tests.conftest import tiny_recipe, write_recipe
from tests.features.tiny_models import tiny_resnet


@pytest.fixture(scope="module")
def resnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_resnet(tmp_path_factory.mktemp("backbone") / "resnet")


def with_quality(quality: dict, where: str = "entry") -> dict:
    recipe = tiny_recipe()
    if where == "entry":
        recipe["classes"]["brick"]["generate"][0]["quality"] = quality
    else:
        recipe["classes"]["brick"]["quality"] = quality
    return recipe


BAD = [
    ("unknown filter", {"filter": "arss", "keep_top": 0.5}, "classes.brick.generate[0].quality.filter",
     "unknown quality filter 'arss'; did you mean 'ars'?"),
    ("keep_top zero", {"filter": "visibility", "keep_top": 0}, "classes.brick.generate[0].quality.keep_top",
     "greater than 0"),
    ("keep_top above one", {"filter": "visibility", "keep_top": 1.5}, "classes.brick.generate[0].quality.keep_top",
     "less than or equal to 1"),
    ("both rules", {"filter": "visibility", "keep_top": 0.5, "min_score": 3}, "classes.brick.generate[0].quality",
     "exactly one of keep_top"),
    ("no rule", {"filter": "visibility"}, "classes.brick.generate[0].quality", "exactly one of keep_top"),
    ("threshold out of range", {"filter": "visibility", "min_score": 300},
     "classes.brick.generate[0].quality.min_score", "outside the visibility score range [0.0, 255.0]"),
    ("ars threshold out of range", {"filter": "ars", "min_score": 50, "params": {"backbone": "{resnet}"}},
     "classes.brick.generate[0].quality.min_score", "outside the ars score range [-10.0, 10.0]"),
    ("backbone folder that is not a model", {"filter": "ars", "keep_top": 0.5, "params": {"backbone": "{empty}"}},
     "classes.brick.generate[0].quality.params.backbone", "not a transformers model folder, it has no config.json"),
    ("unknown filter param", {"filter": "ars", "keep_top": 0.5, "params": {"backbon": "x"}},
     "classes.brick.generate[0].quality.params", "did you mean 'backbone'?"),
]


@pytest.mark.parametrize(("name", "quality", "field", "expected"), BAD, ids=[c[0] for c in BAD])
def test_bad_quality_is_one_line_naming_file_and_field(tmp_path: Path, resnet: Path, name: str, quality: dict,
                                                       field: str, expected: str) -> None:
    (tmp_path / "empty").mkdir()
    params = {k: v.format(resnet=resnet, empty=tmp_path / "empty") if isinstance(v, str) else v
              for k, v in quality.get("params", {}).items()}
    recipe = write_recipe(tmp_path / "bad.yaml", with_quality({**quality, "params": params}))
    result = CliRunner().invoke(main, ["validate", str(recipe), "--no-progress"])
    line = result.output.strip()
    assert result.exit_code == 2 and "\n" not in line and "Traceback" not in line, result.output
    assert line.startswith(f"error: {recipe}: {field}") and expected in line, line


def test_a_filter_on_extra_normals_is_refused(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    recipe["classes"]["brick"]["generate"][0].update(label="normal", quality={"filter": "visibility", "keep_top": 0.5})
    with pytest.raises(RecipeError, match=r"generate\[0\]\.quality: .*extra normals"):
        load_recipe(write_recipe(tmp_path / "r.yaml", recipe))


def test_entries_inherit_their_class_filter_and_share_one_instance(tmp_path: Path, resnet: Path) -> None:
    quality = {"filter": "ars", "keep_top": 0.5, "params": {"backbone": str(resnet)}}
    recipe = with_quality(quality, where="class")
    recipe["classes"]["brick"]["generate"][1]["quality"] = {"filter": "visibility", "min_score": 4}
    loaded = load_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    rules = loaded.components.quality
    assert isinstance(rules[("brick", 0)].filter, Ars) and rules[("brick", 0)].keep_top == 0.5
    assert rules[("brick", 1)].min_score == 4 and ("washer", 0) not in rules
    entry = loaded.resolved["classes"]["brick"]["generate"][0]["quality"]
    assert entry["params"]["noise_std"] == 0.015  # defaults resolved into the recipe
    again = with_quality(quality, where="class")
    again["classes"]["brick"]["generate"].append({"synthesizer": "cutpaste", "count": 1})
    shared = load_recipe(write_recipe(tmp_path / "s.yaml", again)).components.quality
    assert shared[("brick", 0)].filter is shared[("brick", 2)].filter  # one fit for the class


def test_the_filter_is_part_of_the_data_hash_and_absent_quality_keeps_the_old_hash(tmp_path: Path) -> None:
    plain = load_recipe(write_recipe(tmp_path / "a.yaml", tiny_recipe()))
    assert "quality" not in plain.resolved["classes"]["brick"]["generate"][0]
    assert "quality" not in plain.resolved["classes"]["brick"]
    half = load_recipe(write_recipe(tmp_path / "b.yaml", with_quality({"filter": "visibility", "keep_top": 0.5})))
    third = load_recipe(write_recipe(tmp_path / "c.yaml", with_quality({"filter": "visibility", "keep_top": 0.3})))
    assert len({plain.data_hash, half.data_hash, third.data_hash}) == 3
