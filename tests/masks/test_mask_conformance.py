"""Every registered mask strategy honours the MaskStrategy contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from anomset.registry import MASKS
from tests.helpers import assert_ranges_validated, range_params
from tests.masks.conftest import SHAPE

NAMES = MASKS.names()


def test_this_work_is_registered() -> None:
    assert {"geometric", "region"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_mask_is_binary_and_nonempty(name, object_context) -> None:
    result = MASKS.get(name)()(SHAPE, object_context, np.random.default_rng(0))
    assert result.mask.shape == SHAPE
    assert result.mask.dtype == np.uint8
    assert set(np.unique(result.mask)) <= {0, 255}
    assert result.mask.any()


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_mask_other_seeds_differ(name, object_context) -> None:
    strategy = MASKS.get(name)()
    first = strategy(SHAPE, object_context, np.random.default_rng(7))
    again = strategy(SHAPE, object_context, np.random.default_rng(7))
    assert np.array_equal(first.mask, again.mask)
    assert first.params == again.params
    others = [strategy(SHAPE, object_context, np.random.default_rng(s)).mask for s in range(5)]
    assert any(not np.array_equal(others[0], m) for m in others[1:])


@pytest.mark.parametrize("name", NAMES)
def test_params_are_json_ready(name, object_context) -> None:
    strategy = MASKS.get(name)()
    params = strategy(SHAPE, object_context, np.random.default_rng(1)).params
    assert json.loads(json.dumps(params)) == params
    resolved = strategy.resolved_params()
    assert MASKS.get(name)(**json.loads(json.dumps(resolved))).resolved_params() == resolved


@pytest.mark.parametrize("name", NAMES)
def test_unknown_params_rejected(name) -> None:
    with pytest.raises(ValidationError, match="unknown field"):
        MASKS.get(name)(not_a_param=1)


@pytest.mark.parametrize("name", NAMES)
def test_placed_on_the_foreground(name, object_context) -> None:
    strategy = MASKS.get(name)()
    for seed in range(5):
        mask = strategy(SHAPE, object_context, np.random.default_rng(seed)).mask
        assert np.any(mask & object_context.foreground), f"seed {seed}: mask misses the foreground"


@pytest.mark.parametrize("name", NAMES)
def test_reversed_and_out_of_domain_ranges_rejected(name) -> None:
    cls = MASKS.get(name)
    assert range_params(cls.Params), f"{name} has no range param to check"
    assert_ranges_validated(cls)
