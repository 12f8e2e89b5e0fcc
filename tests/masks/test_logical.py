"""Logical anomalies: each operation changes only inside its mask, with the mask it claims."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from anomset.context import SampleContext
from anomset.errors import SynthesisError
from anomset.registry import SYNTHESIZERS
from anomset.sources.toy import ToySource
from anomset.synth.logical import OPERATIONS, Logical, shifted


@pytest.fixture(scope="module")
def toy() -> ToySource:
    return ToySource(image_size=96, train_normals=3, test_normals=0, defects_per_type=0,
                     classes=["board", "brick", "washer"])


@pytest.fixture(scope="module")
def board(toy):
    item = toy.load(toy.items("board")[0])
    return item.image, SampleContext("board", item.foreground, item.regions)


def test_registered_without_mask() -> None:
    assert SYNTHESIZERS.get("logical") is Logical and Logical.uses_mask is False


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("fill", ["inpaint", "median"])
def test_changes_stay_inside_the_mask(board, operation, fill) -> None:
    image, context = board
    for seed in range(3):
        result = Logical(operations=[operation], fill=fill).apply(image, None, context, np.random.default_rng(seed))
        changed = np.any(result.image != image, axis=2)
        assert result.params["operation"] == operation
        assert set(np.unique(result.mask)) == {0, 255}
        assert not np.any(changed & (result.mask == 0)), "pixels outside the mask changed"
        assert changed[result.mask > 0].mean() > 0.5, "most of the mask should visibly change"
        component = context.regions[result.params["component"]]
        if operation in ("missing", "swapped_colour", "moved"):
            assert np.all(result.mask[component > 0] == 255)


def test_a_move_marks_both_places(board) -> None:
    image, context = board
    result = Logical(operations=["moved"]).apply(image, None, context, np.random.default_rng(5))
    component = context.regions[result.params["component"]]
    dx, dy = result.params["offset"]
    target = shifted(component, dx, dy)
    assert not np.any(target & component)
    assert np.all(result.mask[component > 0] == 255) and np.all(result.mask[target > 0] == 255)
    ys, xs = np.nonzero(component)
    assert np.array_equal(result.image[ys + dy, xs + dx], image[ys, xs])


def test_a_duplicate_copies_the_component_to_a_free_spot(board) -> None:
    image, context = board
    result = Logical(operations=["duplicated"]).apply(image, None, context, np.random.default_rng(2))
    component = context.regions[result.params["component"]]
    dx, dy = result.params["offset"]
    assert np.array_equal(result.mask, shifted(component, dx, dy))
    for region in context.regions:
        assert not np.any(result.mask & region)
    inner = cv2.erode(context.foreground, np.ones((7, 7), np.uint8))  # default clearance: 3 px
    assert not np.any((result.mask > 0) & (inner == 0)), "a copy must sit inside the object, off its edge"
    ys, xs = np.nonzero(component)
    assert np.array_equal(result.image[ys + dy, xs + dx], image[ys, xs])
    assert np.array_equal(result.image[ys, xs], image[ys, xs])  # the original stays


def test_swapped_colour_shifts_the_mean_colour(board) -> None:
    image, context = board
    result = Logical(operations=["swapped_colour"], min_colour_shift=80).apply(
        image, None, context, np.random.default_rng(0))
    inside = result.mask > 0
    shift = np.linalg.norm(result.image[inside].mean(0) - image[inside].astype(float).mean(0))
    assert shift >= 60


def test_deterministic_and_draws_every_allowed_operation(board) -> None:
    image, context = board
    synth = Logical()
    a = synth.apply(image, None, context, np.random.default_rng(11))
    b = synth.apply(image, None, context, np.random.default_rng(11))
    assert np.array_equal(a.image, b.image) and a.params == b.params
    drawn = {synth.apply(image, None, context, np.random.default_rng(s)).params["operation"] for s in range(24)}
    assert drawn == set(OPERATIONS)


def test_no_room_or_no_components_is_a_clear_error(toy) -> None:
    washer = toy.load(toy.items("washer")[0])
    context = SampleContext("washer", washer.foreground, washer.regions)
    with pytest.raises(SynthesisError, match="no free spot"):
        Logical(operations=["duplicated", "moved"]).apply(washer.image, None, context, np.random.default_rng(0))
    assert Logical().apply(washer.image, None, context, np.random.default_rng(0)).params["operation"] in (
        "missing", "swapped_colour")
    brick = toy.load(toy.items("brick")[0])
    texture = SampleContext.whole_image(brick.image.shape[:2], "brick")
    with pytest.raises(SynthesisError, match="texture"):
        Logical().apply(brick.image, None, texture, np.random.default_rng(0))
    everything = SampleContext("blank", np.full(brick.image.shape[:2], 255, np.uint8))
    with pytest.raises(SynthesisError, match="no component smaller"):
        Logical().apply(brick.image, None, everything, np.random.default_rng(0))


def test_components_default_to_foreground_parts(board) -> None:
    image, context = board
    bare = SampleContext("board", context.foreground)  # no regions: the board itself is the one part
    result = Logical(operations=["swapped_colour"]).apply(image, None, bare, np.random.default_rng(0))
    assert np.array_equal(result.mask, np.where(context.foreground > 0, 255, 0))


@pytest.mark.parametrize("bad", [{"operations": []}, {"operations": ["missing", "missing"]},
                                 {"operations": ["vanished"]}, {"fill": "zeros"}, {"saturation": (0.5, 1.2)},
                                 {"halo": -1}])
def test_bad_params_rejected(bad) -> None:
    with pytest.raises(ValidationError):
        Logical(**bad)
