"""CutPaste-scar: thin strips, content cut upright and turned along the scar."""

from __future__ import annotations

import cv2
import numpy as np

from anomset.context import SampleContext
from anomset.synth.cutpaste_scar import CutPasteScar, major_axis_angle
from tests.synth.conftest import context_for, synthesize


def test_own_masks_are_thin_scars():
    image, context = context_for("brick", 256)
    synth = CutPasteScar()
    for seed in range(10):
        drawn, result = synthesize(synth, image, context, seed)
        points = cv2.findNonZero(result.mask)
        (_, _), (a, b), _ = cv2.minAreaRect(points)
        short, long_ = sorted((a, b))
        assert short <= 0.0625 * 256 + 2, "scar wider than the width range"
        assert long_ <= 0.1 * 256 + 2, "scar longer than the length range"
        assert -45.0 <= drawn.params["rotation"] <= 45.0


def test_major_axis_angle():
    mask = np.zeros((64, 64), np.uint8)
    mask[10:50, 30:34] = 255
    assert abs(abs(np.degrees(major_axis_angle(mask))) - 90) < 1
    assert abs(np.degrees(major_axis_angle(mask.T.copy()))) < 1


def test_strip_is_turned_along_the_scar():
    # Vertical stripes: constant along y. A horizontal scar gets an upright strip turned by 90°,
    # so inside it the content is constant along x (and changes along y).
    image = np.repeat(np.repeat((np.arange(64) % 8 < 4).astype(np.uint8)[None, :] * 200, 64, 0)[..., None], 3, 2)
    mask = np.zeros((64, 64), np.uint8)
    mask[30:36, 10:50] = 255
    synth = CutPasteScar(brightness=0, contrast=0, saturation=0, hue=0)
    result = synth.apply(image, mask, SampleContext.whole_image((64, 64)), np.random.default_rng(0))
    inside = result.image[30:36, 12:48, 0].astype(int)
    assert abs(result.params["content_rotation"]) == 90.0
    assert np.abs(np.diff(inside, axis=1)).mean() < np.abs(np.diff(inside, axis=0)).mean()
