"""Real defects shown to generators are a seeded share per type, held out of the output test split."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomset.build.launch import open_source, run_build
from anomset.build.protocol import shown_count
from anomset.recipe import load_recipe
from tests.conftest import tiny_recipe, write_recipe


@pytest.mark.parametrize(("share", "available", "expected"),
                         [(0.0, 6, 0), (1 / 3, 6, 2), (1 / 3, 3, 1), (1 / 3, 1, 0), (1.0, 4, 3), (0.1, 2, 1)])
def test_shown_count(share: float, available: int, expected: int) -> None:
    assert shown_count(share, available) == expected


def test_shown_defects_feed_generators_and_leave_test(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    recipe["source"]["params"]["defects_per_type"] = 3
    washer = recipe["classes"]["washer"]
    washer["shown_defects"] = 1 / 3
    washer["generate"] = [{"synthesizer": "draem", "count": 4, "mask": {"strategy": "ellipse"}}]
    loaded = load_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    source, index = open_source(loaded)
    shown = [i for i in index["washer"] if not i.is_normal and i.split == "train"]
    by_type = {i.defect_type for i in shown}
    assert len(shown) == len(by_type) == 3  # one of three per toy washer defect type
    shown_keys = {s.key for s in shown}
    assert all(i.split == "test" for i in source.items("washer") if i.key in shown_keys)
    result = run_build(loaded, tmp_path / "out", progress=False)
    washer_test = result.manifest["counts"]["washer"]["test"]
    assert washer_test["by_defect_type"] == {"good": 2, "hole": 2, "scratch": 2, "stain": 2}
    assert result.manifest["counts"]["brick"]["test"]["anomalies"] == 9  # brick shows none: 3 types x 3
