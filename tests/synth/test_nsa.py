"""NSA: Poisson blending of other normals must survive tiny masks and the image border."""

from __future__ import annotations

import numpy as np
import pytest

from anomset.context import SampleContext
from anomset.synth.nsa import Nsa, crop_padded
from tests.synth.conftest import context_for


def _check(image: np.ndarray, given: np.ndarray, result) -> None:
    assert result.image.shape == image.shape and result.mask.shape == given.shape
    assert not np.any(result.mask & ~given), "NSA's mask must stay inside the mask it was given"
    outside = result.mask == 0
    assert np.array_equal(result.image[outside], image[outside])


@pytest.mark.parametrize("where", ["corner", "edge", "middle"])
@pytest.mark.parametrize("size", [1, 2, 3])
def test_tiny_masks_anywhere(where, size):
    image, context = context_for("brick")
    h, w = image.shape[:2]
    y, x = {"corner": (0, 0), "edge": (h // 2, w - size), "middle": (h // 2, w // 2)}[where]
    mask = np.zeros((h, w), np.uint8)
    mask[y:y + size, x:x + size] = 255
    for mode in ("normal", "mixed"):
        result = Nsa(mode=mode).apply(image, mask, context, np.random.default_rng(0))
        _check(image, mask, result)


def test_patches_touching_the_border_are_blended():
    image, context = context_for("brick")
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[: h // 3, : w // 3] = 255  # top-left corner
    mask[h - 20:, w - 30:] = 255  # bottom-right corner
    for seed in range(3):
        result = Nsa(cleanup=0).apply(image, mask, context, np.random.default_rng(seed))
        _check(image, mask, result)
        assert len(result.params["patches"]) == 2
        assert result.mask.any()


def test_without_pool_uses_the_same_image():
    image, context = context_for("brick")
    alone = SampleContext(context.class_name, context.foreground)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[30:60, 20:50] = 255
    result = Nsa(max_shift=0.4).apply(image, mask, alone, np.random.default_rng(1))
    assert result.params["source"] == "same_image"
    _check(image, mask, result)
    assert result.mask.any()


def test_tolerance_decides_the_mask():
    image, context = context_for("brick")
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[20:70, 20:70] = 255
    loose = Nsa(change_tolerance=0, cleanup=0).apply(image, mask, context, np.random.default_rng(2))
    strict = Nsa(change_tolerance=40, cleanup=0).apply(image, mask, context, np.random.default_rng(2))
    assert np.count_nonzero(strict.mask) < np.count_nonzero(loose.mask)
    diff = np.abs(loose.image.astype(int) - image).max(axis=2)
    assert np.all(diff[strict.mask > 0] > 40)


def test_modes_differ():
    image, context = context_for("board")
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[30:60, 30:70] = 255
    normal = Nsa(mode="normal").apply(image, mask, context, np.random.default_rng(4))
    mixed = Nsa(mode="mixed").apply(image, mask, context, np.random.default_rng(4))
    assert normal.params["mode"] == "normal" and mixed.params["mode"] == "mixed"
    assert not np.array_equal(normal.image, mixed.image)


def test_crop_padded_replicates_outside():
    image = np.arange(5 * 6 * 3, dtype=np.uint8).reshape(5, 6, 3)
    crop = crop_padded(image, -2, 3, 4, 8)
    assert crop.shape == (5, 4, 3)
    assert np.array_equal(crop[2:, :2], image[:3, 4:6])
    assert np.array_equal(crop[0], crop[2]) and np.array_equal(crop[:, 3], image[np.r_[0, 0, 0:3], 5])
