"""diffusion_text on a tiny random pipeline: the synthesizer contract, builds (1 vs 2 processes), bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anomset.diffusion import loading
from anomset.recipe import load_recipe
from anomset.synth.diffusion_text import DiffusionText
from anomset.workflow import build_dataset
from tests.conftest import write_recipe
from tests.diffusion.conftest import diffusion_recipe
from tests.helpers import build_env, failed_build_line, tree_digest
from tests.synth.conftest import context_for, gray_context_for, synthesize


@pytest.fixture(scope="module")
def synth(tiny_pipeline_dir: Path) -> DiffusionText:
    made = DiffusionText(model=str(tiny_pipeline_dir), steps=2, prompt="a scratch on metal")
    made.setup(context_for("board")[1].pool, "cpu")
    yield made
    made.teardown()


@pytest.mark.parametrize("class_name", ["board", "brick"])
def test_output_contract_and_recorded_params(synth: DiffusionText, tiny_pipeline_dir: Path, class_name: str) -> None:
    image, context = context_for(class_name)
    original = image.copy()
    drawn, result = synthesize(synth, image, context, 3)
    assert np.array_equal(image, original), "apply must not modify its input"
    assert result.image.dtype == np.uint8 and result.image.shape == image.shape
    assert np.array_equal(result.mask, drawn.mask & context.foreground)
    outside = result.mask == 0
    assert np.array_equal(result.image[outside], image[outside]), "pixels outside the mask must be bit-identical"
    inside = ~outside
    assert np.abs(result.image[inside].astype(int) - image[inside]).mean() >= 2.0
    params = result.params
    assert params["prompt"] == "a scratch on metal" and params["steps"] == 2 and params["guidance"] == 7.5
    assert params["model"] == "local" and params["revision"] == ""  # a folder: no path, its weights hash
    assert len(params["weights_sha256"]) == 64
    assert isinstance(params["seed"], int) and json.loads(json.dumps(params)) == params


def test_same_seed_same_pixels_other_seed_other_pixels(synth: DiffusionText) -> None:
    image, context = context_for("board")
    _, first = synthesize(synth, image, context, 7)
    _, again = synthesize(synth, image, context, 7)
    _, other = synthesize(synth, image, context, 8)
    assert np.array_equal(first.image, again.image) and first.params == again.params
    assert first.params["seed"] != other.params["seed"] and not np.array_equal(first.image, other.image)


def test_grey_class_gets_grey_inpainting(synth: DiffusionText) -> None:
    image, context = gray_context_for("board")
    _, result = synthesize(synth, image, context, 1)
    out = result.image
    assert result.mask.any()
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_pipeline_is_loaded_once_per_process_and_freed_by_the_last_teardown(tiny_pipeline_dir: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real = loading._load
    monkeypatch.setattr(loading, "_load", lambda *a, **k: loads.append(a[0].name) or real(*a, **k))
    pool = context_for("board")[1].pool
    # bfloat16 (allowed on a CPU): a cache entry of its own, apart from the module's float32 pipeline.
    first, second, third = (DiffusionText(model=str(tiny_pipeline_dir), dtype="bfloat16") for _ in range(3))
    first.setup(pool, "cpu")
    second.setup(pool, "cpu")
    assert first.model is second.model and len(loads) == 1 and first.model.dtype == "bfloat16"
    first.teardown()
    second.teardown()
    assert not [p for p in loading._PIPELINES.values() if p.dtype == "bfloat16"]
    third.setup(pool, "cpu")
    assert len(loads) == 2
    third.teardown()


def _samples(out: Path) -> dict[str, tuple[np.ndarray, np.ndarray, dict]]:
    found: dict[str, dict[str, bytes]] = {}
    for path in sorted((out / "data").rglob("*.tar")):
        with tarfile.open(path) as tar:
            for member in tar.getmembers():
                key, _, ext = member.name.partition(".")
                found.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return {key: (np.asarray(Image.open(io.BytesIO(m["image.png"]))), np.asarray(Image.open(io.BytesIO(m["mask.png"]))),
                  json.loads(m["json"])) for key, m in found.items()}


def test_build_records_and_keeps_outside_pixels(tmp_path: Path, tiny_pipeline_dir: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", diffusion_recipe(tiny_pipeline_dir)))
    build_dataset(recipe, tmp_path / "out", progress=False)
    samples = _samples(tmp_path / "out")
    made = {k: v for k, v in samples.items() if v[2]["generator"] == "diffusion_text"}
    assert len(made) == 8
    from anomset.sources.toy import ToySource

    source = ToySource(image_size=64, train_normals=6, test_normals=3, defects_per_type=1, classes=["brick", "washer"])
    normals = {item.key: source.load(item).image for name in ("brick", "washer") for item in source.items(name)}
    for key, (image, mask, meta) in made.items():
        params = meta["generator_params"]
        assert params["prompt"] in ("a scratch on metal", "a crack") and params["steps"] == 2
        assert params["model"] == "local" and isinstance(params["seed"], int)
        assert meta["mask_strategy"] in ("ellipse", "region") and mask.any()
        normal = normals[meta["source_key"]]
        assert np.array_equal(image[mask == 0], normal[mask == 0]), f"{key}: outside the mask changed"


def test_shards_rendered_alone_in_any_order_match_the_build(tmp_path: Path, tiny_pipeline_dir: Path) -> None:
    """What a rank does with the shards it takes: each one rendered by a fresh renderer, last shard first."""
    from anomset.build.launch import prepare
    from anomset.build.state import OutputState
    from anomset.build.worker import write_shard

    loaded = load_recipe(write_recipe(tmp_path / "r.yaml", diffusion_recipe(tiny_pipeline_dir)))
    build_dataset(loaded, tmp_path / "one", progress=False)
    state = OutputState(tmp_path / "alone")
    plan = prepare(loaded, probe=False).plan
    for shard in reversed(plan):
        renderer = prepare(loaded, probe=False).renderer
        write_shard(shard, renderer, state, loaded.recipe.output.png_compression)
        renderer.teardown()
    for shard in plan:
        assert (tmp_path / "alone" / shard.relpath).read_bytes() == (tmp_path / "one" / shard.relpath).read_bytes()


@pytest.mark.slow
def test_two_processes_write_the_same_bytes(tmp_path: Path, tiny_pipeline_dir: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", diffusion_recipe(tiny_pipeline_dir))
    build_dataset(load_recipe(path), tmp_path / "one", progress=False)
    command = [sys.executable, "-m", "anomset", "build", str(path), "--out", str(tmp_path / "two"), "--no-progress",
               "--processes", "2"]
    result = subprocess.run(command, env=build_env(HF_HUB_OFFLINE="1"), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 processes" in result.stdout
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")


def test_folder_that_is_not_a_pipeline_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-pipeline"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    path = write_recipe(tmp_path / "r.yaml", diffusion_recipe(folder))
    code, line = failed_build_line(path, tmp_path / "out")
    assert code == 2
    assert "generate[0].params.model" in line and "not a diffusers pipeline folder" in line
    assert "model_index.json" in line


def test_gpu_only_option_on_cpu_is_one_line(tmp_path: Path, tiny_pipeline_dir: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", diffusion_recipe(tiny_pipeline_dir, dtype="float16"))
    code, line = failed_build_line(path, tmp_path / "out")
    assert code == 2
    assert "classes.brick.generate[0].params.dtype" in line and "needs a GPU" in line and "float32" in line
    path = write_recipe(tmp_path / "r2.yaml", diffusion_recipe(tiny_pipeline_dir, cpu_offload=True))
    code, line = failed_build_line(path, tmp_path / "out2")
    assert code == 2 and "params.cpu_offload" in line and "no GPU" in line
