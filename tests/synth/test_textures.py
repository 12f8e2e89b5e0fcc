"""The texture bank: materials only, every procedural family honours the window, draws say their family."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from anomset.synth.procedural import FAMILIES
from anomset.synth.texture_blend import Opaque
from anomset.synth.textures import FOLDER, PHOTO, SKIMAGE_TEXTURES, TextureBank
from tests.synth.conftest import context_for, synthesize


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("shape", [(96, 128), (1024, 1024)])
def test_family_window_shape_and_determinism(family, shape):
    make = FAMILIES[family]
    window = (shape[0] // 4, shape[0] // 2, shape[1] // 3, shape[1] // 3 + 17)
    part = make(shape, np.random.default_rng(3), window)
    assert part.dtype == np.uint8 and part.shape == (window[1] - window[0], window[3] - window[2], 3)
    assert np.array_equal(part, make(shape, np.random.default_rng(3), window))
    full = make(shape, np.random.default_rng(3), None)
    assert full.shape == (*shape, 3)
    # A texture, not a flat fill: some structure at every size.
    assert float(cv2.cvtColor(full, cv2.COLOR_RGB2GRAY).std()) > 2.0
    assert not np.array_equal(full, make(shape, np.random.default_rng(4), None))


def test_builtin_bank_is_materials_and_procedural_families():
    assert set(SKIMAGE_TEXTURES) == {"brick", "grass", "gravel"}
    bank = TextureBank()
    drawn = [bank.draw((64, 64), np.random.default_rng(s)) for s in range(80)]
    assert {t.family for t in drawn} == {PHOTO, *FAMILIES}
    assert {t.name for t in drawn if t.family == PHOTO} <= set(SKIMAGE_TEXTURES)
    assert all(t.image.shape == (64, 64, 3) and t.image.dtype == np.uint8 for t in drawn)


def test_folder_bank_names_images_by_their_path_inside_the_folder(tmp_path: Path):
    (tmp_path / "banded").mkdir()
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert cv2.imwrite(str(tmp_path / "banded" / "banded_0001.jpg"), image)
    drawn = TextureBank(str(tmp_path)).draw((32, 32), np.random.default_rng(0), (4, 20, 8, 30))
    assert drawn.family == FOLDER and drawn.name == "texture_dir:banded/banded_0001.jpg"
    assert drawn.image.shape == (16, 22, 3)


def test_sample_params_record_the_family():
    image, context = context_for("board")
    families = {synthesize(Opaque(), image, context, seed)[1].params["texture_family"] for seed in range(24)}
    assert families <= {PHOTO, *FAMILIES} and len(families) >= 3
