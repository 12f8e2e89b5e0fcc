"""The synthesizer contract, checked for every registered synthesizer (later ones join automatically)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from anomset.registry import SYNTHESIZERS
from tests.helpers import assert_ranges_validated
from tests.synth.conftest import context_for, gray_context_for, synthesize

# Model-backed synthesizers need a model set up first: tests/diffusion runs this contract on a tiny one.
NAMES = [name for name, cls in SYNTHESIZERS if not cls.model_backed]
ALL_NAMES = SYNTHESIZERS.names()
SEEDS = (0, 1, 2)


def _visibility(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> float:
    inside = mask > 0
    return float(np.abs(after[inside].astype(np.int16) - before[inside]).mean())


@pytest.mark.parametrize("name", NAMES)
def test_output_contract(name, toy_input):
    image, context = toy_input
    original = image.copy()
    synth = SYNTHESIZERS.get(name)()
    shown = 0
    for seed in SEEDS:
        drawn, result = synthesize(synth, image, context, seed)
        assert np.array_equal(image, original), "apply must not modify its input"
        assert result.image.dtype == np.uint8 and result.image.shape == image.shape
        assert result.mask.dtype == np.uint8 and result.mask.shape == image.shape[:2]
        assert set(np.unique(result.mask)) <= {0, 255}
        outside = result.mask == 0
        # Bit-identical for every method but those documenting a tolerance (rotation keeps the
        # whole turned object; Poisson blending in NSA resets what it leaves out, so it is exact).
        change = np.abs(result.image[outside].astype(np.int16) - image[outside])
        assert change.max(initial=0) <= synth.outside_tolerance(), "pixels outside the mask changed"
        if drawn is not None:
            assert not np.any(result.mask & ~(drawn.mask & context.foreground)), "mask left the allowed area"
        if result.mask.any():
            assert _visibility(image, result.image, result.mask) >= 2.0, "masked region hardly differs"
            shown += 1
    assert shown >= 2, f"only {shown} of {len(SEEDS)} seeds gave a visible anomaly"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_per_seed(name, toy_input):
    image, context = toy_input
    synth = SYNTHESIZERS.get(name)()
    _, first = synthesize(synth, image, context, 7)
    _, again = synthesize(SYNTHESIZERS.get(name)(), image, context, 7)
    _, other = synthesize(synth, image, context, 8)
    assert np.array_equal(first.image, again.image) and np.array_equal(first.mask, again.mask)
    assert first.params == again.params
    assert not (np.array_equal(first.image, other.image) and first.params == other.params)


@pytest.mark.parametrize("name", NAMES)
def test_params_are_json(name, toy_input):
    image, context = toy_input
    cls = SYNTHESIZERS.get(name)
    synth = cls()
    drawn, result = synthesize(synth, image, context, 3)
    assert json.loads(json.dumps(result.params)) == result.params, "sampled params must be plain JSON types"
    if drawn is not None:
        assert json.loads(json.dumps(drawn.params)) == drawn.params
    resolved = json.loads(json.dumps(synth.resolved_params()))
    assert cls(**resolved).resolved_params() == resolved


@pytest.mark.parametrize("name", ALL_NAMES)
def test_bad_params_rejected(name):
    cls = SYNTHESIZERS.get(name)
    with pytest.raises(ValidationError, match="unknown field 'no_such_param'"):
        cls(no_such_param=1)
    for field in cls.Params.model_fields:
        with pytest.raises(ValidationError) as caught:
            cls(**{field: {"not": "valid"}})
        assert caught.value.errors()[0]["loc"][0] == field
    assert_ranges_validated(cls)


@pytest.mark.parametrize("name", [n for n in ALL_NAMES if SYNTHESIZERS.get(n).uses_mask])
def test_empty_mask_changes_nothing(name):
    image, context = context_for("brick")
    synth = SYNTHESIZERS.get(name)()
    result = synth.apply(image, np.zeros(image.shape[:2], np.uint8), context, np.random.default_rng(0))
    assert not result.mask.any() and np.array_equal(result.image, image)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("class_name", ["board", "brick"])
def test_grayscale_input_stays_grayscale(name, class_name):
    """A grey class (R = G = B everywhere, pool included) gets grey anomalies only: no colour cue."""
    synth = SYNTHESIZERS.get(name)()
    if class_name == "brick" and not synth.for_textures:
        pytest.skip("this synthesizer declares it needs object components (for_textures = False)")
    image, context = gray_context_for(class_name)
    changed = 0
    for seed in range(8):
        _, result = synthesize(synth, image, context, seed)
        out = result.image
        assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2]), (
            f"seed {seed} brought colour into a grayscale image: {result.params}")
        changed += bool(result.mask.any())
    assert changed >= 4, "the grayscale path must still make anomalies"
