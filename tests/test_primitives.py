"""Fast primitives agree with their plain numpy definitions."""

from __future__ import annotations

import numpy as np
import pytest

from anomset.masks.base import random_point_in
from anomset.sample import mask_stats


@pytest.mark.parametrize("seed", range(40))
def test_random_point_and_mask_stats_match_nonzero(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = (rng.random((37, 53)) < rng.random() * 0.2).astype(np.uint8) * 255
    ys, xs = np.nonzero(mask)
    expected_rng, rng_under_test = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    if ys.size == 0:
        assert mask_stats(mask) == (0, [0, 0, 0, 0])
        return
    k = int(expected_rng.integers(ys.size))
    assert random_point_in(mask, rng_under_test) == (int(xs[k]), int(ys[k]))
    bbox = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    assert mask_stats(mask) == (int(ys.size), bbox)
