"""A tiny built dataset shared by the hub tests (built once; each test gets its own copy)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.conftest import tiny_recipe, write_recipe

# datasets reads its cache location once, at import: keep local-folder loads out of the user's cache.
_CACHE = tempfile.mkdtemp(prefix="anomset-hf-cache-")
os.environ.setdefault("HF_DATASETS_CACHE", _CACHE)


@pytest.fixture(scope="session", autouse=True)
def _remove_datasets_cache():
    yield
    shutil.rmtree(_CACHE, ignore_errors=True)


def build_tiny(folder: Path, **overrides) -> Path:
    from anomset.recipe import load_recipe
    from anomset.workflow import build_dataset

    folder.mkdir(parents=True, exist_ok=True)
    recipe = write_recipe(folder / "recipe-in.yaml", tiny_recipe(**overrides))
    out = folder / "out"
    build_dataset(load_recipe(recipe), out, progress=False)
    return out


@pytest.fixture(scope="session")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("built"), hub={"repo": "org/tiny", "private": False})


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Path:
    out = tmp_path / "ds"
    shutil.copytree(built_once, out)
    return out
