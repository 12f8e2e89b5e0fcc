"""The shipped toy recipes build end to end, inspect clean and load (slow: full-size builds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomset.inspect import inspect_output
from anomset.recipe import load_recipe
from anomset.workflow import build_dataset

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["toy.yaml", "toy_full.yaml"])
def test_shipped_toy_recipe_builds(tmp_path: Path, name: str) -> None:
    from datasets import load_dataset

    loaded = load_recipe(RECIPES / name)
    result = build_dataset(loaded, tmp_path / "out", progress=False)
    manifest = result.manifest
    assert manifest is not None
    inspection = inspect_output(tmp_path / "out")
    assert inspection.samples == manifest["total_samples"]
    planned = sum(e.count for plan in loaded.recipe.classes.values() for e in plan.generate)
    synthetic = sum(n for c in manifest["counts"].values() for s in c.values()
                    for g, n in s["by_generator"].items() if g not in ("normal", "real"))
    assert synthetic == planned
    ds = load_dataset(str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
    assert ds["train"].num_rows + ds["test"].num_rows == manifest["total_samples"]
