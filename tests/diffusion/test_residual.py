"""Residual masks (ComGEN): nearest normal, alignment, thresholding; ``mask_source: residual`` on diffusion_text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from anomset.masks.residual import align_to, nearest, residual_mask
from anomset.synth.diffusion_text import DiffusionText
from tests.synth.conftest import context_for, synthesize


def _texture(seed: int, size: int = 64) -> np.ndarray:
    import cv2

    small = np.random.default_rng(seed).integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def test_nearest_is_by_cosine_distance() -> None:
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert nearest(np.array([[5.0, 0.1], [0.2, 3.0], [2.0, 2.1]]), bank).tolist() == [0, 1, 2]


def test_shifted_reference_is_aligned_and_the_painted_square_found() -> None:
    normal = _texture(0)
    image = np.roll(normal, (2, 3), axis=(0, 1)).copy()  # the same part, moved 3 px right and 2 down
    image[20:36, 24:40] = (250, 20, 20)
    aligned, shift = align_to(normal, image)
    assert shift == pytest.approx([3.0, 2.0], abs=0.3)
    mask = residual_mask(image, aligned, threshold=40, blur=3, kernel=3, min_area=16)
    truth = np.zeros(mask.shape, bool)
    truth[20:36, 24:40] = True
    found = mask > 0
    inner = np.zeros_like(truth)
    inner[4:-4, 4:-4] = True  # the rolled border wraps around; it is no part of the check
    near = np.zeros_like(truth)
    near[18:38, 22:42] = True  # the square and the 2 px the blur spreads it by
    overlap = (found & truth & inner).sum() / (truth & inner).sum()
    assert overlap > 0.9 and (found & ~near & inner).sum() < 0.05 * truth.sum()
    unaligned = residual_mask(image, normal, threshold=40, blur=3, kernel=3, min_area=16)
    assert ((unaligned > 0) & ~near & inner).sum() > 10 * max(1, (found & ~near & inner).sum())


def test_small_specks_are_dropped() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[2:4, 2:4] = 255  # 4 px
    image[10:20, 10:20] = 255  # 100 px
    mask = residual_mask(image, np.zeros_like(image), threshold=100, blur=1, kernel=1, min_area=16)
    assert mask[2:4, 2:4].max() == 0 and mask[10:20, 10:20].min() == 255


@pytest.fixture(scope="module")
def resnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.features.tiny_models import tiny_resnet

    return tiny_resnet(tmp_path_factory.mktemp("resnet"))


def test_diffusion_text_residual_mask_covers_every_change(tiny_pipeline_dir: Path, resnet_dir: Path) -> None:
    image, context = context_for("board")
    synth = DiffusionText(model=str(tiny_pipeline_dir), steps=2, mask_source="residual",
                          residual={"backbone": str(resnet_dir), "layers": ["stage1"], "image_size": 64,
                                    "threshold": 12})
    synth.setup(context.pool, "cpu")
    try:
        drawn, result = synthesize(synth, image, context, 4)
    finally:
        synth.teardown()
    drawn_mask = drawn.mask & context.foreground
    assert result.mask.any() and not np.any(result.mask & ~drawn_mask), "the residual mask stays inside the drawn one"
    outside = result.mask == 0
    assert np.array_equal(result.image[outside], image[outside]), "every changed pixel is in the mask"
    params = result.params
    assert params["mask_source"] == "residual" and params["drawn_area"] == int(np.count_nonzero(drawn_mask))
    assert 0 <= params["residual_normal"] < len(context.pool.normal_images(64)) and len(params["residual_shift"]) == 2
