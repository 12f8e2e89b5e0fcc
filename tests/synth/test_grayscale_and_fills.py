"""Grey classes stay grey (logical's recolouring and repainting too); match_fill; grey detection."""

from __future__ import annotations

import numpy as np
import pytest

from anomset.synth.color import is_grayscale, luminance_rgb, match_fill
from anomset.synth.logical import Logical
from anomset.synth.texture_blend import Opaque, Transparent
from tests.synth.conftest import context_for, gray_context_for, synthesize


def _grey(image: np.ndarray) -> bool:
    return bool(np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2]))


@pytest.mark.parametrize("params", [{"operations": ["swapped_colour"]},
                                    {"operations": ["missing"], "fill": "median"}])
def test_logical_recolours_and_repaints_grey(params):
    image, context = gray_context_for("board")
    synth = Logical(**params)
    for seed in range(4):
        _, result = synthesize(synth, image, context, seed)
        assert result.mask.any() and _grey(result.image), result.params
        if "colour" in result.params:
            assert len(set(result.params["colour"])) == 1
    colour_image, colour_context = context_for("board")
    _, coloured = synthesize(Logical(operations=["swapped_colour"]), colour_image, colour_context, 0)
    assert len(set(coloured.params["colour"])) > 1, "colour classes keep their colour draws"


@pytest.mark.parametrize("mode", ["mean", "mean_std"])
@pytest.mark.parametrize("grey", [False, True])
def test_match_fill_matches_the_covered_pixels(mode, grey):
    image, context = (gray_context_for if grey else context_for)("board")
    _, result = synthesize(Opaque(match_fill=mode), image, context, 1)
    inside = result.mask > 0
    before, after = image[inside].astype(float), result.image[inside].astype(float)
    assert np.abs(after.mean(axis=0) - before.mean(axis=0)).max() < 4.0  # uint8 clipping moves it a little
    if mode == "mean_std":
        assert np.abs(after.std(axis=0) - before.std(axis=0)).max() < 4.0
    if grey:
        assert _grey(result.image)
    assert result.params["texture_family"] in ("photo", "fractal", "stripes", "gabor", "cellular")


def test_match_fill_none_is_the_plain_blend():
    image, context = context_for("brick")
    _, plain = synthesize(Transparent(), image, context, 5)
    _, none = synthesize(Transparent(match_fill="none"), image, context, 5)
    assert np.array_equal(plain.image, none.image)
    _, matched = synthesize(Transparent(match_fill="mean_std"), image, context, 5)
    assert np.array_equal(matched.mask, plain.mask) and not np.array_equal(matched.image, plain.image)


def test_match_fill_helper_on_a_flat_texture_and_a_grey_reference():
    fill = np.full((10, 12, 3), 200, np.uint8)
    reference = np.full((10, 12, 3), 60, np.uint8)
    reference[..., 0] += 1  # a JPEG-ish tint must not leak into a grey fill
    mask = np.full((10, 12), 255, np.uint8)
    out = match_fill(fill, reference, mask, "mean_std", grayscale=True)
    assert _grey(out) and abs(int(out[0, 0, 0]) - 60) <= 1
    assert match_fill(fill, reference, mask, "none") is fill


def test_grayscale_detection_tolerates_rounding_only():
    rng = np.random.default_rng(0)
    grey = luminance_rgb(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert is_grayscale(grey)
    jpeg_like = grey.astype(np.int16)
    jpeg_like[..., 0] += rng.integers(-2, 3, (64, 64))
    assert is_grayscale(np.clip(jpeg_like, 0, 255).astype(np.uint8))
    tinted = grey.copy()
    tinted[:8, :8, 2] = 255 - tinted[:8, :8, 2] // 2  # a coloured patch, 1.6% of the pixels
    tinted[:8, :8, 0] = 0
    assert not is_grayscale(tinted)
