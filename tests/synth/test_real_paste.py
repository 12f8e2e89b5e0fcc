"""real_paste: exact masks, donors only from the shown defects, blends, placement, grayscale, errors."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from anomset.cli import main
from anomset.context import ImagePool, SampleContext, ShownDefect
from anomset.errors import RecipeError, SynthesisError
from anomset.synth.real_paste import RealPaste
from tests.conftest import tiny_recipe, write_recipe
from tests.synth.conftest import context_for, synthesize, toy_shown

PLAIN = dict(rotation=(0.0, 0.0), scale=(1.0, 1.0), flip=False, match="none", blend="alpha", feather=1)


def _bbox_crop(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    ys, xs = np.nonzero(mask)
    return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1], (int(ys.min()), int(xs.min()))


def test_untransformed_alpha_paste_copies_the_donor_exactly_under_its_own_mask() -> None:
    image, context = context_for("brick")
    donors = {d.key: d for d in toy_shown("brick")}
    synth = RealPaste(**PLAIN, min_inside=1.0, placement_tries=50)
    checked = 0
    for seed in range(6):
        _, result = synthesize(synth, image, context, seed)
        donor = donors[result.params["donor"]]
        out_shape, (oy, ox) = _bbox_crop(result.mask)
        donor_shape, (dy, dx) = _bbox_crop(donor.mask)
        if out_shape.shape != donor_shape.shape:
            continue  # clipped by the image border
        assert np.array_equal(out_shape, donor_shape), "the mask is the donor mask, moved"
        inside = result.mask > 0
        shifted = np.zeros_like(image)
        h, w = donor_shape.shape
        shifted[oy:oy + h, ox:ox + w] = donor.image[dy:dy + h, dx:dx + w]
        assert np.array_equal(result.image[inside], shifted[inside]), "the donor's pixels, unchanged"
        assert np.array_equal(result.image[~inside], image[~inside])
        checked += 1
    assert checked >= 3


def test_blends_share_the_mask_and_differ_in_pixels() -> None:
    image, context = context_for("board")
    blends = ("normal", "mixed", "alpha")
    results = {blend: synthesize(RealPaste(blend=blend), image, context, 4)[1] for blend in blends}
    masks = [r.mask for r in results.values()]
    assert masks[0].any() and all(np.array_equal(masks[0], m) for m in masks[1:])
    assert not np.array_equal(results["normal"].image, results["alpha"].image)
    for blend, result in results.items():
        assert result.params["blend"] == blend
        outside = result.mask == 0
        assert np.array_equal(result.image[outside], image[outside]), blend


def test_params_record_donor_transform_and_blend() -> None:
    image, context = context_for("board")
    _, result = synthesize(RealPaste(blend="either", reshape=0.1), image, context, 2)
    params = json.loads(json.dumps(result.params))
    assert params["donor"] in {d.key for d in toy_shown("board")}
    assert set(params["transform"]) == {"flip_horizontal", "flip_vertical", "rotation", "scale", "reshaped_vertices"}
    assert params["transform"]["reshaped_vertices"] >= 3
    assert params["blend"] in ("normal", "mixed", "alpha") and params["match"]["mode"] == "mean_std"


def test_the_defect_stays_in_the_region_it_is_given() -> None:
    image, context = context_for("board")
    region = np.zeros(image.shape[:2], np.uint8)
    region[30:60, 20:70] = 255
    synth = RealPaste()
    for seed in range(4):
        result = synth.apply(image, region, context, np.random.default_rng(seed))
        assert result.mask.any() and not np.any(result.mask & ~region)
        assert np.array_equal(result.image[result.mask == 0], image[result.mask == 0])


def test_grayscale_in_grayscale_out() -> None:
    image, context = context_for("brick")
    gray = np.repeat(image.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    donors = [ShownDefect(d.key, d.defect_type, np.repeat(d.image[..., 1:2], 3, axis=2), d.mask)
              for d in toy_shown("brick")]
    context = SampleContext("brick", context.foreground, [], ImagePool([gray], shown=donors), True)
    for blend in ("normal", "mixed", "alpha"):
        _, result = synthesize(RealPaste(blend=blend), gray, context, 1)
        assert result.mask.any()
        assert np.array_equal(result.image[..., 0], result.image[..., 1])
        assert np.array_equal(result.image[..., 1], result.image[..., 2])


def test_no_shown_defects_is_a_synthesis_error_naming_the_field() -> None:
    image, context = context_for("board")
    context = SampleContext("board", context.foreground, [], ImagePool([image]), False)
    with pytest.raises(SynthesisError, match="no real defects") as caught:
        synthesize(RealPaste(), image, context, 0)
    assert caught.value.field == "classes.board.shown_defects"


def _paste_recipe(shown: float) -> dict:
    recipe = tiny_recipe()
    recipe["source"]["params"]["defects_per_type"] = 3
    recipe["classes"]["washer"] = {"normals": {"train": 2, "test": 2}, "shown_defects": shown,
                                   "real_defects": {"train": 0, "test": "all"},
                                   "generate": [{"synthesizer": "real_paste", "count": 6},
                                                {"synthesizer": "real_paste", "count": 3, "split": "test"}]}
    return recipe


def test_build_without_shown_defects_stops_at_setup(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", _paste_recipe(0.0))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == RecipeError.exit_code
    line = result.output.strip()
    assert "\n" not in line and line.startswith(f"error: {path}: classes.washer.shown_defects: real_paste")
    assert "fix: set shown_defects" in line
    assert not out.exists() or not any(out.iterdir())


def test_build_pastes_only_shown_defects(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", _paste_recipe(0.34))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metas = []
    for shard in sorted((out / "data" / "washer").glob("*.tar")):
        with tarfile.open(shard) as tar:
            metas += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    pasted = [m for m in metas if m["generator"] == "real_paste"]
    held_out = {m["source_key"] for m in metas if m["origin"] == "real"}
    assert len(pasted) == 9 and held_out
    donors = {m["generator_params"]["donor"] for m in pasted}
    assert donors and not donors & held_out, "a held-out test defect was pasted"
    assert all("/test/" in d for d in donors)  # shown defects come from the source's test split
    assert all(m["mask_area"] > 0 and m["mask_strategy"] == "real_paste:own" for m in pasted)


def test_similar_placement_puts_a_dark_part_defect_on_the_dark_part() -> None:
    h = w = 96
    image = np.full((h, w, 3), 220, np.uint8)
    image[:, : w // 2] = 40
    donor_image = np.full((h, w, 3), 40, np.uint8)
    donor_mask = np.zeros((h, w), np.uint8)
    donor_mask[40:48, 40:50] = 255
    donor_image[donor_mask > 0] = 120
    pool = ImagePool([image], shown=[ShownDefect("d", "dent", donor_image, donor_mask)])
    context = SampleContext("plate", np.full((h, w), 255, np.uint8), [], pool, True)
    sides = {"similar": set(), "region": set()}
    for placement in sides:
        synth = RealPaste(placement=placement, rotation=(0.0, 0.0), scale=(1.0, 1.0), min_inside=1.0)
        for seed in range(8):
            _, result = synthesize(synth, image, context, seed)
            sides[placement].add(result.params["center"][0] < w // 2)
    assert sides["similar"] == {True}
    assert sides["region"] == {True, False}
