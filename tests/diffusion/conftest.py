"""One tiny random inpainting pipeline per test session, saved to a folder (loaded back by the real path)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.diffusion.tiny_pipeline import tiny_inpaint_pipeline

    return tiny_inpaint_pipeline(tmp_path_factory.mktemp("tiny-sd-inpaint"))


def diffusion_recipe(model: Path | str, **params) -> dict:
    """The tiny toy recipe with diffusion_text entries on both classes (2 steps, batches of 2, shards of 4)."""
    from tests.conftest import tiny_recipe

    common = {"model": str(model), "steps": 2, "batch_size": 2, "prompt": ["a scratch on metal", "a crack"],
              **params}
    recipe = tiny_recipe()
    recipe["output"]["shard_size"] = 4
    recipe["classes"]["brick"]["normals"] = {"train": 1, "test": 1}
    recipe["classes"]["brick"]["generate"] = [
        {"synthesizer": "diffusion_text", "count": 5, "params": common, "mask": {"strategy": "ellipse"}},
        {"synthesizer": "cutpaste", "count": 1}]
    recipe["classes"]["washer"]["normals"] = {"train": 1, "test": 1}
    recipe["classes"]["washer"]["generate"] = [
        {"synthesizer": "diffusion_text", "count": 3, "params": common,
         "mask": {"strategy": "region", "params": {"mode": "edge"}}}]
    return recipe
