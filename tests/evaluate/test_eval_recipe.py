"""The eval recipe: validation messages, its hash, the protocols' plans, and the shipped eval recipes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from eval_helpers import TOY_TEST, eval_recipe, write_eval

from anomset.cli import main
from anomset.errors import RecipeError
from anomset.evaluate.protocols import PROTOCOLS, ClassInfo, TrainRow, correlations
from anomset.evaluate.recipe import EvalRecipe, is_eval_recipe, load_eval_data
from anomset.recipe import load_recipe
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
UNET = [{"type": "unet", "params": {"epochs": 1}}]


@pytest.mark.parametrize(("edit", "field", "message"), [
    ({"detectors": [{"type": "unet", "params": {"epoch": 3}}]}, "detectors[0].params", "did you mean 'epochs'"),
    ({"detectors": [{"type": "unet", "params": {"image_size": 36}}]}, "detectors[0].params", "multiple of 2**depth"),
    ({"detectors": []}, "detectors", "at least 1"),
    ({"protocols": [{"type": "ratio", "params": {"ratios": [-1]}}]}, "protocols[0].params.ratios", ">= 0"),
    ({"protocols": [{"type": "count", "params": {"count": [5]}}]}, "protocols[0].params", "did you mean 'counts'"),
    ({"protocols": ["plain", "plain"]}, "protocols", "listed twice"),
    ({"test": {"source": {"type": "toyy"}}}, "test.source.type", "did you mean 'toy'"),
    ({"test": {"source": TOY_TEST, "shown_defects": 2}}, "test.shown_defects", "share between 0 and 1"),
    ({"metrics": ["accuracy"]}, "metrics", "classifies defect types"),
    ({"detectors": [*UNET, *UNET]}, "detectors", "share a name"),
    ({"image_size": 4}, "image_size", "greater than or equal to 16"),
])
def test_bad_eval_recipes_name_the_field(edit: dict, field: str, message: str) -> None:
    with pytest.raises(RecipeError) as caught:
        load_eval_data({**eval_recipe(Path("out"), detectors=UNET), **edit}, "eval.yaml")
    text = str(caught.value)
    assert text.startswith(f"eval.yaml: {field}: ") and message in text and "\n" not in text


def test_eval_hash_ignores_locations_but_not_figures() -> None:
    base = load_eval_data(eval_recipe(Path("out/a"), detectors=UNET))
    moved = load_eval_data({**eval_recipe(Path("elsewhere/b"), detectors=UNET), "output": "x"})
    assert base.eval_hash == moved.eval_hash
    assert base.eval_hash != load_eval_data(eval_recipe(Path("out/a"), detectors=UNET, seeds=[0, 2])).eval_hash
    assert base.resolved["detectors"][0]["params"]["base_channels"] == 16  # defaults filled in


def test_validate_recognises_an_eval_recipe(tmp_path: Path) -> None:
    out = tmp_path / "out"
    build_dataset(load_recipe(write_recipe(tmp_path / "tiny.yaml", tiny_recipe())), out, progress=False)
    path = write_eval(tmp_path / "eval.yaml", eval_recipe(out, detectors=UNET, protocols=["plain", "simulated"]))
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"ok: {path} (eval recipe: 2 classes, 8 units" in result.output
    assert "note: simulated: class washer has 1 generator(s); needs two; skipped" in result.output
    bad = write_eval(tmp_path / "bad.yaml", eval_recipe(tmp_path / "nothing", detectors=UNET))
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code != 0 and result.output.count("\n") == 1 and "dataset: " in result.output


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("*_eval*.yaml")))
def test_shipped_eval_recipes_are_valid(name: str) -> None:
    data = yaml.safe_load((RECIPES / name).read_text())
    assert is_eval_recipe(data)
    recipe = EvalRecipe.model_validate(data)
    for spec in recipe.protocols:
        PROTOCOLS.get(spec.type)(**spec.params)
    if name.startswith("toy_eval"):
        load_eval_data(data, name)  # the toy source needs no files: the whole recipe loads, detectors included


def _info() -> ClassInfo:
    rows = [TrainRow(0, "normal", "")] * 10 + [TrainRow(1, "synthetic", "cutpaste")] * 8
    rows += [TrainRow(1, "synthetic", "draem")] * 6 + [TrainRow(0, "synthetic", "rotation")] * 2
    rows += [TrainRow(1, "shown", "")] * 4
    return ClassInfo("c", tuple(rows), {"draem": 3})


def test_protocol_selections() -> None:
    info, rng = _info(), np.random.default_rng(0)
    plain = PROTOCOLS.get("plain")()
    assert len(plain.select(info, {}, rng)) == 26  # every build row, never the shown real defects
    ratio = PROTOCOLS.get("ratio")(ratios=[0, 1, 4])
    notes: list[str] = []
    assert ratio.settings(info, notes) == [{"synthetic_ratio": 0.0}, {"synthetic_ratio": 1.0}]
    assert "ratio 4 needs 16 synthetic anomalies, the dataset has 14" in notes[0]
    picked = ratio.select(info, {"synthetic_ratio": 1.0}, rng)
    kinds = [info.rows[i].origin for i in picked if info.rows[i].label]
    assert kinds.count("shown") == 4 and kinds.count("synthetic") == 4
    count = PROTOCOLS.get("count")(counts=[5])
    a, b = (count.select(info, {"synthetic_count": 5}, np.random.default_rng(s)) for s in (1, 1))
    assert (a == b).all() and sum(info.rows[i].label for i in a) == 5
    hybrid = PROTOCOLS.get("hybrid")()
    assert [s["generators"] for s in hybrid.settings(info, [])] == ["cutpaste", "draem", "cutpaste+draem"]
    only = hybrid.select(info, {"generators": "draem"}, rng)
    assert {info.rows[i].generator for i in only if info.rows[i].label} == {"draem"}
    jobs, _ = PROTOCOLS.get("simulated")().plan({"c": info}, ["c"])
    matrix = {(j.setting["train_generator"], t.generator) for j in jobs for t in j.targets}
    assert matrix == {("cutpaste", "draem"), ("draem", "cutpaste"), ("draem", "draem")}  # no cutpaste test split
    jobs, _ = PROTOCOLS.get("cross")().plan({"c": info, "d": info}, ["c", "d"])
    assert [(j.class_name, [t.scored_class for t in j.targets]) for j in jobs] == [("c", ["c", "d"]),
                                                                                    ("d", ["c", "d"])]


def test_correlations_need_three_varying_generators() -> None:
    quality = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
    figures = correlations(quality, {"a": 0.5, "b": 0.6, "c": 0.8, "d": 0.7})
    assert figures is not None and figures["spearman"] == pytest.approx(0.8) and -1 <= figures["pearson"] <= 1
    assert correlations(quality, {"a": 0.5, "b": 0.6}) is None
    assert correlations(quality, {"a": 0.5, "b": 0.5, "c": 0.5}) is None
