"""Real defects shown to generators: the first share of each type (or a seeded draw), held out of the test split."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomset.build.launch import open_source
from anomset.build.protocol import shown_count, shown_defect_keys
from anomset.recipe import load_recipe
from anomset.sources.base import SourceItem
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe


@pytest.mark.parametrize(("share", "available", "expected"),
                         [(0.0, 6, 0), (1 / 3, 6, 2), (1 / 3, 3, 1), (1 / 3, 2, 0), (1 / 3, 1, 0), (1.0, 4, 3),
                          (0.1, 2, 0), (0.34, 24, 8), (0.3333, 24, 8), ("1/3", 24, 8), ("1/3", 50, 16),
                          (1 / 3, 50, 16), (0.34, 50, 17), (0.5, 7, 3)])
def test_shown_count(share: float | str, available: int, expected: int) -> None:
    assert shown_count(share, available) == expected


def _defects(counts: dict[str, int]) -> list[SourceItem]:
    # Listed out of order: the rule sorts by key within each type itself.
    defects = [SourceItem(f"part-test-{kind}-{i:03d}", "part", "test", kind)
               for kind, n in counts.items() for i in reversed(range(n))]
    return [*defects, SourceItem("part-test-good-000", "part", "test")]


def test_first_selection_is_the_first_third_of_each_type_in_key_order() -> None:
    items = _defects({"crack": 24, "hole": 7})
    shown = shown_defect_keys(items, 0.34)
    assert shown == [f"part-test-crack-{i:03d}" for i in range(8)] + [f"part-test-hole-{i:03d}" for i in range(2)]
    assert shown_defect_keys(items, "1/3", "first") == shown
    assert shown_defect_keys(items, 0.0) == []


def test_random_selection_is_seeded_by_the_data_hash() -> None:
    items = _defects({"crack": 24, "hole": 7})
    drawn = shown_defect_keys(items, 0.34, "random", "a" * 64)
    assert drawn == shown_defect_keys(list(reversed(items)), 0.34, "random", "a" * 64)
    assert len(drawn) == 10 and drawn != shown_defect_keys(items, 0.34)
    assert drawn != shown_defect_keys(items, 0.34, "random", "b" * 64)


def test_shown_defects_feed_generators_and_leave_test(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    recipe["source"]["params"]["defects_per_type"] = 3
    washer = recipe["classes"]["washer"]
    washer["shown_defects"] = "1/3"
    washer["generate"] = [{"synthesizer": "draem", "count": 4, "mask": {"strategy": "ellipse"}}]
    loaded = load_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    source, index = open_source(loaded)
    shown = [i for i in index["washer"] if not i.is_normal and i.split == "train"]
    by_type = {i.defect_type for i in shown}
    assert len(shown) == len(by_type) == 3  # one of three per toy washer defect type
    shown_keys = {s.key for s in shown}
    assert all(i.split == "test" for i in source.items("washer") if i.key in shown_keys)
    result = build_dataset(loaded, tmp_path / "out", progress=False)
    washer_test = result.manifest["counts"]["washer"]["test"]
    assert washer_test["by_defect_type"] == {"good": 2, "hole": 2, "scratch": 2, "stain": 2}
    assert result.manifest["counts"]["brick"]["test"]["anomalies"] == 9  # brick shows none: 3 types x 3
    assert result.manifest["shown_defects"] == {"brick": [], "washer": sorted(shown_keys)}
    first = {kind: min(i.key for i in source.items("washer") if i.defect_type == kind) for kind in by_type}
    assert shown_keys == set(first.values())  # the first of each type in key order
