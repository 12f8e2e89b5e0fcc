"""Decoded source items are kept for the whole build within a budget; the budget never changes bytes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from anomset.build.item_cache import ItemCache, item_bytes
from anomset.build.launch import prepare
from anomset.recipe import load_recipe
from anomset.sources.base import LoadedItem
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe
from tests.helpers import tree_digest


def _item(pixels: int) -> LoadedItem:
    return LoadedItem(np.zeros((1, pixels, 3), np.uint8))


def test_the_cache_drops_the_least_recently_used_beyond_its_budget() -> None:
    cache = ItemCache(budget_bytes=3 * 30)
    loads: Counter[str] = Counter()

    def get(key: str) -> LoadedItem:
        return cache.get(key, lambda: (loads.update([key]), _item(10))[1])

    for key in "abc":
        get(key)
    get("a")  # now b is the oldest
    get("d")
    assert "b" not in cache and all(k in cache for k in "acd")
    assert cache.used_bytes == 90 and cache.evictions == 1
    get("b")
    assert loads == Counter(a=1, b=2, c=1, d=1) and cache.decodes == 5


def test_an_item_larger_than_the_budget_is_returned_but_not_kept() -> None:
    cache = ItemCache(budget_bytes=10)
    item = cache.get("big", lambda: _item(100))
    assert item_bytes(item) == 300 and "big" not in cache and cache.used_bytes == 0


def test_a_build_decodes_each_source_image_once(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    # Many samples from few normals, and NSA borrowing other normals: the old 64-item cache was enough
    # here, so make it many more normals than that.
    recipe["source"]["params"].update(train_normals=80)
    recipe["classes"]["brick"] = {"normals": {"train": 0, "test": 0},
                                  "generate": [{"synthesizer": "nsa", "count": 160},
                                               {"synthesizer": "cutpaste", "count": 160}]}
    del recipe["classes"]["washer"]
    prepared = prepare(load_recipe(write_recipe(tmp_path / "r.yaml", recipe)))
    loads: Counter[str] = Counter()
    original = prepared.source.load

    def counting_load(item):
        loads[item.key] += 1
        return original(item)

    prepared.source.load = counting_load  # type: ignore[method-assign]
    for shard in prepared.plan:
        for spec in shard.samples:
            prepared.renderer.render(spec)
    assert loads and max(loads.values()) == 1, loads.most_common(3)


def test_the_cache_budget_changes_no_byte(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "tiny.yaml", tiny_recipe())
    build_dataset(load_recipe(path), tmp_path / "big", progress=False)
    build_dataset(load_recipe(path), tmp_path / "none", progress=False, cache_mib=0)
    assert tree_digest(tmp_path / "big") == tree_digest(tmp_path / "none")
