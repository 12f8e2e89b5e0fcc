"""One tiny toy build per test module, copied for tests that damage it."""

from __future__ import annotations

import shutil
from pathlib import Path

from anomset.recipe import load_recipe
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe


def build_tiny(folder: Path) -> Path:
    """Build the shared tiny toy recipe into ``folder/out``."""
    recipe = write_recipe(folder / "tiny.yaml", tiny_recipe())
    build_dataset(load_recipe(recipe), folder / "out", progress=False)
    return folder / "out"


def copy_of(out: Path, target: Path) -> Path:
    shutil.copytree(out, target)
    return target
