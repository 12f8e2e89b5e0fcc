"""AAAI-24 augmentation framework: transparent / opaque, near-distribution, rotation."""

from __future__ import annotations

import cv2
import numpy as np

from anomset.context import SampleContext
from anomset.synth.near_distribution import NearDistribution, dense_change
from anomset.synth.rotation import Rotation
from anomset.synth.texture_blend import Opaque, Transparent
from tests.synth.conftest import context_for, synthesize


def test_opaque_is_transparent_with_beta_one():
    image, context = context_for("board")
    for seed in range(3):
        _, opaque = synthesize(Opaque(), image, context, seed)
        _, full = synthesize(Transparent(beta=(1.0, 1.0)), image, context, seed)
        assert np.array_equal(opaque.image, full.image) and np.array_equal(opaque.mask, full.mask)
        assert opaque.params == full.params and opaque.params["beta"] == 1.0


def test_transparent_beta_mixes():
    image, context = context_for("brick")
    _, half = synthesize(Transparent(beta=(0.5, 0.5)), image, context, 0)
    _, opaque = synthesize(Opaque(), image, context, 0)
    inside = half.mask > 0
    expected = (image[inside].astype(float) + opaque.image[inside]) / 2  # same texture, same seed
    assert np.abs(half.image[inside] - expected).max() <= 1.0


def test_dense_change_drops_scattered_dots():
    raw = np.zeros((64, 64), bool)
    raw[::7, ::9] = True  # scattered dots, far below any density
    raw[16:32, 32:48] = True  # a dense 16×16 area (two 8-px blocks each way)
    kept = dense_change(raw, block=8, density=0.3)
    assert kept[16:32, 32:48].all()
    kept[16:32, 32:48] = False
    assert not kept.any()
    assert not np.any(kept & ~raw)


def test_near_distribution_flat_image_gives_nothing():
    image = np.full((64, 64, 3), 120, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:50, 10:50] = 255
    result = NearDistribution().apply(image, mask, SampleContext.whole_image((64, 64)), np.random.default_rng(0))
    assert not result.mask.any() and np.array_equal(result.image, image)


def test_near_distribution_warps_structure_inside_the_rectangle():
    image = np.zeros((96, 96, 3), np.uint8)
    image[:, ::6] = 255  # vertical lines: row shifts move them
    mask = np.zeros((96, 96), np.uint8)
    mask[20:70, 30:80] = 255
    result = NearDistribution(direction="rows", amplitude=(0.03, 0.03)).apply(
        image, mask, SampleContext.whole_image((96, 96)), np.random.default_rng(0))
    assert result.params["direction"] == "rows"
    assert np.count_nonzero(result.mask) > 0.2 * np.count_nonzero(mask)
    assert not np.any(result.mask & ~mask)


def _l_shape(size: int = 96) -> tuple[np.ndarray, SampleContext]:
    image = np.full((size, size, 3), 40, np.uint8)
    foreground = np.zeros((size, size), np.uint8)
    foreground[20:76, 30:46] = 255
    foreground[60:76, 30:70] = 255
    image[foreground > 0] = (200, 180, 60)
    return image, SampleContext("l", foreground)


def test_rotation_mask_is_where_the_object_moved():
    image, context = _l_shape()
    synth = Rotation(angle=(90.0, 90.0), both_directions=False, cleanup=0)
    result = synth.apply(image, None, context, np.random.default_rng(0))
    moments_fg = context.foreground > 0
    assert result.params["angle"] == 90.0 and result.params["scope"] == "global"
    mask = result.mask > 0
    # Object pixels that the turned object no longer covers (and new ones) are masked ...
    turned_object = np.all(result.image == (200, 180, 60), axis=2)
    assert np.all(mask[moments_fg & ~turned_object])
    assert np.all(mask[turned_object & ~moments_fg])
    # ... background away from where the object was or is now is not, and nothing outside the mask changed.
    near = cv2.dilate((moments_fg | turned_object).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert not np.any(mask & ~near)
    assert np.count_nonzero(mask) < 0.5 * mask.size
    assert np.abs(result.image[~mask].astype(int) - image[~mask]).max() <= synth.outside_tolerance()


def test_rotation_of_a_symmetric_object_changes_only_its_jagged_edge():
    size = 96
    image = np.full((size, size, 3), 40, np.uint8)
    foreground = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    foreground[(yy - 47.5) ** 2 + (xx - 47.5) ** 2 <= 30 ** 2] = 255
    image[foreground > 0] = 180
    result = Rotation(angle=(30.0, 30.0)).apply(image, None, SampleContext("disk", foreground),
                                                 np.random.default_rng(0))
    edge = cv2.morphologyEx(foreground, cv2.MORPH_GRADIENT, np.ones((5, 5), np.uint8)) > 0
    assert not np.any((result.mask > 0) & ~edge)
    # Interpolation only softens the rim; inside and outside the disk nothing is masked.
    assert np.abs(result.image[~edge].astype(int) - image[~edge]).max() <= 16
