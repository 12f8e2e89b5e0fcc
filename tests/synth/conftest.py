"""Small realistic inputs for synthesizer tests: toy normals (an object and a texture) and a pool."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from anomset.context import ImagePool, SampleContext, ShownDefect
from anomset.masks.base import MaskResult
from anomset.sources.base import LoadedItem
from anomset.sources.toy import ToySource
from anomset.synth.base import Synthesizer, SynthResult
from anomset.synth.color import luminance_rgb

SIZE = 96


@functools.lru_cache(maxsize=4)
def toy_items(class_name: str, size: int = SIZE) -> tuple[LoadedItem, ...]:
    source = ToySource(image_size=size, classes=[class_name], train_normals=3, test_normals=0,
                       defects_per_type=0)
    return tuple(source.load(item) for item in source.items(class_name))


@functools.lru_cache(maxsize=4)
def toy_shown(class_name: str, size: int = SIZE) -> tuple[ShownDefect, ...]:
    """Real toy defects of the class (two of each type), as shown to generators."""
    source = ToySource(image_size=size, classes=[class_name], train_normals=1, test_normals=0,
                       defects_per_type=2, seed=1)
    shown = []
    for item in source.items(class_name):
        if not item.is_normal:
            loaded = source.load(item)
            shown.append(ShownDefect(item.key, item.defect_type, loaded.image, loaded.mask))
    return tuple(shown)


def context_for(class_name: str, size: int = SIZE, index: int = 0) -> tuple[np.ndarray, SampleContext]:
    """A normal image of a toy class and its context, with the class's other normals as pool."""
    items = toy_items(class_name, size)
    item = items[index]
    pool = ImagePool([it.image for it in items if it is not item], shown=list(toy_shown(class_name, size)))
    context = SampleContext(class_name, item.foreground, item.regions, pool, class_name in ("brick", "gravel"))
    return item.image, context


def gray_context_for(class_name: str, size: int = SIZE, index: int = 0) -> tuple[np.ndarray, SampleContext]:
    """``context_for`` on a grayscale copy of the class: the image and the pool's normals have R = G = B
    (ITU-R 601 luminance), and the context says so, as the build's class pool would."""
    items = toy_items(class_name, size)
    gray = [luminance_rgb(it.image) for it in items]
    item = items[index]
    shown = [ShownDefect(d.key, d.defect_type, luminance_rgb(d.image), d.mask) for d in toy_shown(class_name, size)]
    pool = ImagePool([g for k, g in enumerate(gray) if k != index], shown=shown)
    context = SampleContext(class_name, item.foreground, item.regions, pool, class_name in ("brick", "gravel"),
                            grayscale=True)
    return gray[index], context


def synthesize(synth: Synthesizer, image: np.ndarray, context: SampleContext,
               seed: int) -> tuple[MaskResult | None, SynthResult]:
    """One pair the way build/render.py makes it: own mask, restricted to the foreground, then apply."""
    rng = np.random.default_rng(seed)
    drawn = None
    mask = None
    if synth.uses_mask:
        drawn = synth.propose_mask(image.shape[:2], context, rng)
        mask = drawn.mask & context.foreground
    return drawn, synth.apply(image, mask, context, rng)


@pytest.fixture(params=["board", "brick"])
def toy_input(request) -> tuple[np.ndarray, SampleContext]:
    if request.param == "brick" and "name" in request.fixturenames:
        from anomset.registry import SYNTHESIZERS

        if not SYNTHESIZERS.get(request.getfixturevalue("name")).for_textures:
            pytest.skip("this synthesizer declares it needs object components (for_textures = False)")
    return context_for(request.param)
