"""Foreground estimation on the toy objects, connected regions, and the build's foreground wiring."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from anomset.build.render import ClassPool
from anomset.masks.foreground import connected_regions, estimate_foreground, estimate_foreground_single
from anomset.sources.base import LoadedItem, Source, SourceItem
from anomset.sources.toy import ToySource
from tests.masks.conftest import disc

SIZE = 96


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture(scope="module")
def toy() -> ToySource:
    return ToySource(image_size=SIZE, train_normals=8, test_normals=0, defects_per_type=1,
                     classes=["board", "brick", "washer"])


def _normals(toy: ToySource, name: str) -> list[LoadedItem]:
    return [toy.load(i) for i in toy.items(name) if i.is_normal]


@pytest.mark.parametrize(("name", "bound"), [("washer", 0.85), ("board", 0.9)])
def test_single_image_estimate_matches_the_true_foreground(toy, name, bound) -> None:
    for item in _normals(toy, name):
        assert iou(estimate_foreground_single(item.image), item.foreground) >= bound


@pytest.mark.parametrize(("name", "bound"), [("washer", 0.75), ("board", 0.9)])
def test_class_estimate_matches_each_true_foreground(toy, name, bound) -> None:
    items = _normals(toy, name)
    estimate = estimate_foreground([i.image for i in items])
    assert set(np.unique(estimate)) == {0, 255}
    scores = [iou(estimate, i.foreground) for i in items]
    assert np.mean(scores) >= bound and min(scores) >= bound - 0.1


def test_featureless_image_falls_back_to_the_whole_image() -> None:
    flat = np.full((48, 48, 3), 120, np.uint8)
    assert np.all(estimate_foreground([flat]) == 255)


def test_estimate_refuses_mixed_sizes_and_no_images() -> None:
    with pytest.raises(ValueError, match="one size"):
        estimate_foreground([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)])
    with pytest.raises(ValueError, match="at least one"):
        estimate_foreground([])


def test_connected_regions_largest_first_specks_dropped() -> None:
    small, big = disc((64, 64), (14, 14), 6), disc((64, 64), (42, 42), 12)
    speck = np.zeros((64, 64), np.uint8)
    speck[60, 2] = 255
    regions = connected_regions(small | big | speck, min_area_ratio=0.001)
    assert len(regions) == 2
    assert np.array_equal(regions[0], big) and np.array_equal(regions[1], small)


class NoMasksSource(Source):
    """The toy source with its foregrounds and regions withheld (like a plain image folder)."""

    def __init__(self, inner: ToySource) -> None:
        super().__init__()
        self.inner = inner

    def classes(self) -> list[str]:
        return self.inner.classes()

    def items(self, class_name: str) -> list[SourceItem]:
        return self.inner.items(class_name)

    def is_texture(self, class_name: str) -> bool:
        return self.inner.is_texture(class_name)

    def load(self, item: SourceItem) -> LoadedItem:
        return LoadedItem(self.inner.load(item).image, None, None, [])


def _pool(source: Source, name: str) -> ClassPool:
    return ClassPool(source, name, source.items(name), (SIZE, SIZE))


def test_pool_estimates_foreground_and_regions_when_the_source_gives_none(toy) -> None:
    pool = _pool(NoMasksSource(toy), "board")
    key = pool.train_normals[0].key
    item = pool.load(key)
    truth = toy.load(pool.by_key[key])
    assert iou(item.foreground, truth.foreground) >= 0.85
    assert item.regions and np.array_equal(item.regions[0], connected_regions(item.foreground)[0])
    again = _pool(NoMasksSource(toy), "board").estimated_foreground
    assert np.array_equal(pool.estimated_foreground, again)  # deterministic per class


def test_pool_keeps_given_masks_and_textures_are_all_foreground(toy) -> None:
    pool = _pool(toy, "washer")
    key = pool.train_normals[0].key
    truth = toy.load(pool.by_key[key])
    assert np.array_equal(pool.load(key).foreground, truth.foreground)
    assert len(pool.load(key).regions) == len(truth.regions)
    assert "estimated_foreground" not in vars(pool)  # never computed when the source has masks
    for source in (toy, NoMasksSource(toy)):
        texture = _pool(source, "brick").load(f"brick/train/good/{0:05d}")
        assert np.all(texture.foreground == 255) and texture.regions == []


def _rod(angle: float, size: int = 96) -> np.ndarray:
    """A bright rod on a dark, slightly noisy backdrop, at ``angle`` degrees through the centre."""
    image = np.full((size, size, 3), 40, np.uint8)
    centre, half = size // 2, size // 3
    dx, dy = half * np.cos(np.radians(angle)), half * np.sin(np.radians(angle))
    cv2.line(image, (int(centre - dx), int(centre - dy)), (int(centre + dx), int(centre + dy)), (200, 200, 200), 9)
    noise = np.random.default_rng(int(angle)).integers(0, 4, image.shape)
    return (image + noise).astype(np.uint8)


def test_objects_at_varying_angles_keep_their_own_foreground() -> None:
    from anomset.masks.foreground import estimate_class_foreground

    rotated = [_rod(a) for a in range(0, 180, 20)]
    _, aligned = estimate_class_foreground(rotated)
    assert not aligned
    _, aligned = estimate_class_foreground([_rod(30)] * 4)
    assert aligned


class RotatingRods(Source):
    """Normals of one class, a rod at a different angle in each, with no foreground of their own."""

    def classes(self) -> list[str]:
        return ["rod"]

    def items(self, class_name: str) -> list[SourceItem]:
        return [SourceItem(f"rod/train/good/{i:03d}", "rod", "train", "good") for i in range(9)]

    def is_texture(self, class_name: str) -> bool:
        return False

    def load(self, item: SourceItem) -> LoadedItem:
        return LoadedItem(_rod(20.0 * int(item.key[-3:])), None, None, [])


def test_pool_of_unaligned_objects_estimates_each_image() -> None:
    source = RotatingRods()
    pool = ClassPool(source, "rod", source.items("rod"), (96, 96))
    for item in source.items("rod"):
        loaded = pool.load(item.key)
        rod = loaded.image[..., 0] > 120
        assert pool.foreground_mode == "per_image"
        assert np.count_nonzero(loaded.foreground[rod]) >= 0.95 * np.count_nonzero(rod)  # on the rod itself
        assert iou(loaded.foreground, pool.estimated_foreground) < 0.6
