"""``area: real``: free-size mask strategies sized like the class's real defects."""

from __future__ import annotations

import numpy as np
import pytest

from anomset.context import SampleContext
from anomset.errors import RecipeError, SynthesisError
from anomset.recipe.load import load_recipe_text
from anomset.registry import MASKS
from tests.helpers import failed_build_line
from tests.masks.conftest import FakePool, disc, rect

SIZE = (128, 128)
# (strategy, params) of every calibrated strategy; region parts are placed on the object's components.
CALIBRATED = [
    ("rectangle", {}),
    ("rectangle", {"rotation": [0, 90]}),
    ("ellipse", {"irregularity": 0.4}),
    ("scar", {}),
    ("perlin", {}),
    ("region", {"mode": "inner"}),
    ("region", {"mode": "edge"}),
    ("region", {"mode": "combined", "parts": ["inner", "edge"]}),
]
IDS = [f"{n}-{'-'.join(map(str, p.values())) or 'default'}" for n, p in CALIBRATED]


def real_class() -> SampleContext:
    """A round object with two parts, and 12 real defects from 28 to about 450 pixels (radii 3-12)."""
    foreground = disc(SIZE, (64, 64), 50)
    regions = [disc(SIZE, (50, 60), 22), rect(SIZE, 70, 40, 100, 100)]
    defects = [disc(SIZE, (20 + 8 * r, 20), r) for r in range(3, 13)]
    defects += [rect(SIZE, 10, 80, 40, 84), rect(SIZE, 60, 100, 66, 130)]
    return SampleContext("widget", foreground, regions, FakePool(defects))


def kept_areas(strategy, context: SampleContext, n: int = 80) -> np.ndarray:
    """Areas of ``n`` masks as a build keeps them (clipped to the foreground)."""
    return np.array([np.count_nonzero(strategy(SIZE, context, np.random.default_rng(s)).mask & context.foreground)
                     for s in range(n)])


@pytest.mark.parametrize(("name", "params"), CALIBRATED, ids=IDS)
def test_calibrated_areas_follow_the_real_distribution(name: str, params: dict) -> None:
    context = real_class()
    real = np.array([np.count_nonzero(m) for m in context.pool.defect_masks()])
    got = kept_areas(MASKS.get(name)(**params, area="real"), context)
    # Within a factor 1.5 at the median and 2 at p10/p90 (the spread factor alone is up to 1.25).
    for q, factor in ((0.5, 1.5), (0.1, 2.0), (0.9, 2.0)):
        mine, theirs = np.quantile(got, q), np.quantile(real, q)
        assert 1 / factor <= mine / theirs <= factor, f"p{int(q * 100)}: {mine:.0f} vs real {theirs:.0f}"


def test_own_ranges_are_far_from_these_real_areas() -> None:
    """The check above can fail: the default rectangle (2-15 % of the image) is several times too big."""
    context = real_class()
    real = np.median([np.count_nonzero(m) for m in context.pool.defect_masks()])
    assert np.median(kept_areas(MASKS.get("rectangle")(), context)) > 3 * real


@pytest.mark.parametrize(("name", "params"), CALIBRATED, ids=IDS)
def test_calibrated_masks_are_deterministic(name: str, params: dict) -> None:
    strategy = MASKS.get(name)(**params, area="real")
    draws = [strategy(SIZE, real_class(), np.random.default_rng(seed)) for seed in (7, 7, 8)]
    assert np.array_equal(draws[0].mask, draws[1].mask) and draws[0].params == draws[1].params
    assert not np.array_equal(draws[0].mask, draws[2].mask)
    assert "target_area" in str(draws[0].params)


def test_fallback_params_draws_the_own_range_without_real_masks() -> None:
    context = SampleContext("plain", disc(SIZE, (64, 64), 50), [], FakePool([]))
    own = MASKS.get("ellipse")()(SIZE, context, np.random.default_rng(3))
    fell_back = MASKS.get("ellipse")(area="real", area_fallback="params")(SIZE, context, np.random.default_rng(3))
    assert np.array_equal(own.mask, fell_back.mask)
    with pytest.raises(SynthesisError, match="no real defect masks") as caught:
        MASKS.get("ellipse")(area="real")(SIZE, context, np.random.default_rng(3))
    assert caught.value.field == "mask.params.area"


RECIPE = """
name: areas
source: {type: toy, params: {image_size: 64, train_normals: 3, test_normals: 0, defects_per_type: 3, classes: [board]}}
output: {image_size: 64, shard_size: 50}
classes:
  board:
    normals: {train: 0, test: 0}
    real_defects: {train: 0, test: 0}
    SHOWN
    generate:
      - {synthesizer: cutpaste, count: 2, mask: {strategy: rectangle, params: PARAMS}}
"""


def recipe(params: str, shown: str = "shown_defects: 1/3") -> str:
    return RECIPE.replace("PARAMS", params).replace("SHOWN", shown)


@pytest.mark.parametrize(("params", "field", "says"), [
    ("{area: realistic}", "mask.params.area", "'params' or 'real'"),
    ("{area: real, area_spread: [1.5, 0.5]}", "mask.params.area_spread", "low <= high"),
    ("{area: real, area_spread: [0, 2]}", "mask.params.area_spread", "must lie in"),
    ("{area: real, area_fallback: blob}", "mask.params.area_fallback", "'error' or 'params'"),
    ("{area_spread: [0.5, 2.0]}", "mask.params", "area_spread only applies with area: real"),
])
def test_bad_area_options_name_the_field(params: str, field: str, says: str) -> None:
    with pytest.raises(RecipeError) as caught:
        load_recipe_text(recipe(params), "areas.yaml")
    line = str(caught.value)
    assert "\n" not in line and f"classes.board.generate[0].{field}" in line and says in line, line


def test_area_params_keeps_the_data_hash() -> None:
    plain = load_recipe_text(recipe("{}"), "areas.yaml")
    explicit = load_recipe_text(recipe("{area: params}"), "areas.yaml")
    real = load_recipe_text(recipe("{area: real}"), "areas.yaml")
    assert plain.data_hash == explicit.data_hash != real.data_hash
    params = plain.resolved["classes"]["board"]["generate"][0]["mask"]["params"]
    assert not {"area", "area_spread", "area_fallback"} & set(params)


def test_real_area_on_a_class_without_shown_defects_stops_in_one_line(tmp_path) -> None:
    path = tmp_path / "areas.yaml"
    path.write_text(recipe("{area: real}", shown=""))
    code, line = failed_build_line(path, tmp_path / "out")
    assert code != 0 and "mask.params.area" in line and "no real defect masks" in line, line
