"""The visibility filter: mean change inside the mask, registered as the first quality filter."""

from __future__ import annotations

import numpy as np

from anomset.quality.base import Candidate
from anomset.registry import QUALITY_FILTERS


def test_visibility_is_the_mean_change_inside_the_mask() -> None:
    source = np.full((4, 4, 3), 100, np.uint8)
    image = source.copy()
    image[0, 0] = 130  # inside: +30 on every channel
    image[3, 3] = 0  # outside the mask: not counted
    mask = np.zeros((4, 4), np.uint8)
    mask[0, :2] = 255  # two pixels, one changed
    score = QUALITY_FILTERS.get("visibility")().fit(None).score(Candidate("c", source, image, mask))
    assert score == 15.0


def test_an_empty_mask_scores_zero() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    candidate = Candidate("c", image, image + 50, np.zeros((4, 4), np.uint8))
    assert QUALITY_FILTERS.get("visibility")().score(candidate) == 0.0
