"""A table of bad recipes and the one-line message each must give (file, dotted field, what to do)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from anomset.build.launch import prepare
from anomset.cli import main
from anomset.errors import RecipeError
from anomset.recipe import load_recipe, load_recipe_text
from tests.conftest import tiny_recipe, write_recipe

Edit = Callable[[dict], None]


def _set(path: str, value: object) -> Edit:
    def edit(recipe: dict) -> None:
        *parents, last = path.split(".")
        node = recipe
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


def _rename_top(old: str, new: str) -> Edit:
    return lambda recipe: recipe.__setitem__(new, recipe.pop(old))


G0 = "classes.brick.generate.0"
CASES: list[tuple[str, Edit, str, str]] = [
    ("misspelt top-level key", _rename_top("classes", "clases"), "",
     "unknown field 'clases'; did you mean 'classes'?"),
    ("unknown synthesizer", _set(f"{G0}.synthesizer", "cutpast"), "classes.brick.generate[0].synthesizer",
     "unknown synthesizer 'cutpast'; did you mean 'cutpaste'"),
    ("count not an integer", _set(f"{G0}.count", "ten"), "classes.brick.generate[0].count", "valid integer"),
    ("negative count", _set(f"{G0}.count", -3), "classes.brick.generate[0].count", "greater than or equal to 0"),
    ("misspelt synthesizer param", _set(f"{G0}.params", {"aera_ratio": [0.1, 0.2]}),
     "classes.brick.generate[0].params", "did you mean 'area_ratio'?"),
    ("param out of range", _set(f"{G0}.params", {"brightness": -1}),
     "classes.brick.generate[0].params.brightness", "greater than or equal to 0"),
    ("unknown source", _set("source.type", "tyo"), "source.type", "did you mean 'toy'?"),
    ("misspelt source param", _set("source.params.imagesize", 3), "source.params", "did you mean 'image_size'?"),
    ("reversed mask range", _set("classes.washer.generate.0.mask.params", {"area_ratio": [0.15, 0.02]}),
     "classes.washer.generate[0].mask.params.area_ratio", "low <= high"),
    ("mask range out of its domain", _set("classes.washer.generate.0.mask.params", {"area_ratio": [0.0, 0.02]}),
     "classes.washer.generate[0].mask.params.area_ratio", "must lie in (0, 1]"),
    ("unknown mask strategy", _set("classes.washer.generate.0.mask.strategy", "elipse"),
     "classes.washer.generate[0].mask.strategy", "did you mean 'ellipse'"),
    ("bad class name", lambda r: r["classes"].__setitem__("Brick.x", r["classes"].pop("brick")), "classes",
     "lowercase letters"),
    ("image too small", _set("output.image_size", 8), "output.image_size", "between 16 and 8192"),
    ("zero shard size", _set("output.shard_size", 0), "output.shard_size", "greater than or equal to 1"),
    ("unknown split", _set(f"{G0}.split", "val"), "classes.brick.generate[0].split", "'train' or 'test'"),
    ("bad count word", _set("classes.brick.normals.train", "some"), "classes.brick.normals.train",
     "expected a count >= 0 or 'all'"),
    ("more normals than the source has", _set("classes.brick.normals.train", 1000), "classes.brick.normals.train",
     "asks for 1000 normal images but the source has 6"),
    ("class the source lacks", _set("classes.gravel", {}), "classes.gravel", "the source has no class 'gravel'"),
    ("bad dataset name", _set("name", "my dataset"), "name", "a Hub repo name"),
    ("no classes", _set("classes", {}), "classes", "at least 1 item"),
    ("logical anomalies on a texture", _set(f"{G0}.synthesizer", "logical"), "classes.brick.generate[0].synthesizer",
     "logical needs object components, but 'brick' is a texture"),
    ("mask for a method that places its own change", _set("classes.washer.generate.0.synthesizer", "rotation"),
     "classes.washer.generate[0].mask", "rotation places its own change and takes no mask"),
]


@pytest.mark.parametrize(("label", "edit", "field", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_recipe_message(tmp_path: Path, label: str, edit: Edit, field: str, message: str) -> None:
    recipe = tiny_recipe()
    edit(recipe)
    path = write_recipe(tmp_path / "bad.yaml", recipe)
    with pytest.raises(RecipeError) as info:
        loaded = load_recipe(path)
        prepare(loaded)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: {field + ': ' if field else ''}"), text
    assert message in text, text


def test_validate_command_reports_one_line_and_exit_code(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    _set(f"{G0}.synthesizer", "cutpast")(recipe)
    path = write_recipe(tmp_path / "bad.yaml", recipe)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == RecipeError.exit_code
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: classes.brick.generate[0].synthesizer:")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\n  source: [", "line 2, column 9: invalid YAML"),
    ("- a\n- b\n", "must be a YAML mapping"),
])
def test_malformed_yaml(text: str, expected: str) -> None:
    with pytest.raises(RecipeError, match=expected):
        load_recipe_text(text, "r.yaml")


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="recipe file not found"):
        load_recipe(tmp_path / "nope.yaml")


def test_resolved_recipe_fills_defaults_and_round_trips(tmp_path: Path, tiny_recipe_path: Path) -> None:
    loaded = load_recipe(tiny_recipe_path)
    entry = loaded.resolved["classes"]["brick"]["generate"][0]
    assert entry["defect_type"] == "cutpaste"
    assert entry["params"]["area_ratio"] == [0.02, 0.15]
    again = load_recipe_text(loaded.to_yaml(), "resolved.yaml")
    assert again.recipe_hash == loaded.recipe_hash
    assert yaml.safe_load(loaded.to_yaml()) == loaded.resolved
