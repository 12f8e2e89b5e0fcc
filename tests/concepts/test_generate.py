"""gaa / anogen end to end on the tiny models: recipes/toy_fewshot.yaml through cluster -> learn -> build."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from anomset.cli import main
from tests.helpers import ROOT


def toy_fewshot(tmp_path: Path, vit: Path, pipe: Path) -> Path:
    """recipes/toy_fewshot.yaml with the tiny models and folders under ``tmp_path``."""
    recipe = yaml.safe_load((ROOT / "recipes" / "toy_fewshot.yaml").read_text())
    recipe["concepts"].update(dir=str(tmp_path / "concepts"), model=str(pipe))
    recipe["concepts"]["cluster"].update(backbone=str(vit), layers=["stage1", "stage2"], image_size=32)
    recipe["output"]["dir"] = str(tmp_path / "out")
    path = tmp_path / "toy_fewshot.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def learned(tmp_path_factory, vit: Path, tiny_pipe: Path) -> Path:
    folder = tmp_path_factory.mktemp("fewshot")
    recipe = toy_fewshot(folder, vit, tiny_pipe)
    for command in ("cluster", "learn"):
        result = invoke(command, str(recipe))
        assert result.exit_code == 0, result.output
    return recipe


def test_toy_fewshot_builds_gaa_and_anogen_samples(learned: Path) -> None:
    from anomset.dataset.reader import iter_decoded
    from anomset.recipe import load_recipe

    result = invoke("build", str(learned), "--no-progress")
    assert result.exit_code == 0, result.output
    out = Path(load_recipe(learned).recipe.output.dir)
    rows = [{"json": meta} for _, _, meta in iter_decoded(out) if meta["generator"]]
    assert sorted(r["json"]["generator"] for r in rows) == ["anogen"] * 2 + ["gaa"] * 4
    clusters = yaml.safe_load((learned.parent / "concepts" / "washer" / "clusters.json").read_text())
    for row in rows:
        meta, params = row["json"], row["json"]["generator_params"]
        assert meta["cluster"] == params["cluster"] != ""
        if meta["generator"] == "gaa":
            assert meta["cluster"] in set(clusters["assignment"].values())
            assert params["prompt"].startswith("a photo of <washer-") and params["prompt"].endswith("<pos-3>")
        else:
            assert meta["cluster"] in {"hole", "scratch", "stain"} and "<pos-" not in params["prompt"]
        assert params["model"] == "local" and params["revision"] == ""  # concepts.model is a folder
        assert {"steps", "guidance", "seed", "checkpoint_sha256"} <= set(params)
        assert meta["mask_strategy"] == "geometric" and meta["mask_area"] > 0
    card = (out / "README.md").read_text()
    assert load_recipe(learned).recipe.concepts.model in card  # the card names the model that made them


def washer_gaa(recipe: Path, entry: int = 0):
    """The recipe's washer synthesizer ``entry``, set up on the class's pool, with a washer normal and its context."""
    from anomset.build.launch import open_source
    from anomset.build.render import ClassPool
    from anomset.context import SampleContext
    from anomset.recipe import load_recipe

    loaded = load_recipe(recipe)
    source, index = open_source(loaded)
    pool = ClassPool(source, "washer", index["washer"], (64, 64))
    gaa = loaded.components.synthesizers[("washer", entry)]
    gaa.setup(pool, "cpu")
    normal = pool.load(pool.normals[0].key)
    return gaa, normal, SampleContext("washer", normal.foreground, pool=pool)


def test_gaa_changes_nothing_outside_its_mask(learned: Path) -> None:
    from anomset.masks.geometric import GeometricMask

    gaa, normal, context = washer_gaa(learned)
    rngs = [np.random.default_rng(i) for i in range(2)]
    masks = [GeometricMask()((64, 64), context, rng).mask for rng in rngs]
    results = gaa.apply_batch([normal.image] * 2, masks, [context] * 2,
                              [np.random.default_rng(7 + i) for i in range(2)])
    for result, mask in zip(results, masks, strict=True):
        outside = mask == 0
        assert np.array_equal(result.image[outside], normal.image[outside])
        assert np.any(result.image[~outside] != normal.image[~outside])
    again = gaa.apply_batch([normal.image] * 2, masks, [context] * 2, [np.random.default_rng(7 + i) for i in range(2)])
    assert all(np.array_equal(a.image, b.image) for a, b in zip(results, again, strict=True))
    gaa.teardown()


def test_an_entry_cluster_pins_the_group(learned: Path, tmp_path: Path) -> None:
    from anomset.masks.geometric import GeometricMask

    recipe = yaml.safe_load(learned.read_text())
    recipe["classes"]["washer"]["generate"][0]["cluster"] = "c1"
    path = tmp_path / "pinned.yaml"
    path.write_text(yaml.safe_dump(recipe))
    gaa, normal, context = washer_gaa(path)
    masks = [GeometricMask()((64, 64), context, np.random.default_rng(i)).mask for i in range(3)]
    made = gaa.apply_batch([normal.image] * 3, masks, [context] * 3, [np.random.default_rng(i) for i in range(3)])
    assert [r.params["cluster"] for r in made] == ["c1"] * 3
    gaa.teardown()


def test_gaa_without_a_checkpoint_is_one_line(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    recipe = toy_fewshot(tmp_path, vit, tiny_pipe)
    result = invoke("build", str(recipe), "--no-progress")
    assert result.exit_code == 4 and len(error_lines(result.output)) == 1
    assert "no gaa concepts learned for class 'washer'" in result.output and "anomset learn" in result.output


def test_gaa_refuses_concepts_learned_for_other_settings(learned: Path, tmp_path: Path) -> None:
    recipe = yaml.safe_load(learned.read_text())
    recipe["concepts"]["learn"]["lr"] = 0.1  # another concept hash, same folder
    recipe["output"]["dir"] = str(tmp_path / "out")
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = invoke("build", str(path), "--no-progress")
    assert result.exit_code == 4 and "learned for other defects or settings" in result.output


def test_gaa_on_a_class_with_no_shown_defects_is_one_line(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    recipe = yaml.safe_load(toy_fewshot(tmp_path, vit, tiny_pipe).read_text())
    recipe["classes"]["washer"]["shown_defects"] = 0
    path = tmp_path / "none.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = invoke("build", str(path), "--no-progress")
    assert result.exit_code == 2 and len(error_lines(result.output)) == 1
    assert "classes.washer.shown_defects" in result.output


def test_gaa_without_concepts_section_or_with_its_own_model_is_one_line(tmp_path: Path, vit: Path,
                                                                        tiny_pipe: Path) -> None:
    recipe = yaml.safe_load(toy_fewshot(tmp_path, vit, tiny_pipe).read_text())
    recipe.pop("concepts")
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = invoke("validate", str(path))
    assert result.exit_code == 2 and "classes.washer.generate[0].synthesizer" in result.output
    recipe = yaml.safe_load(toy_fewshot(tmp_path, vit, tiny_pipe).read_text())
    recipe["classes"]["washer"]["generate"][0]["params"]["model"] = str(tiny_pipe)
    path.write_text(yaml.safe_dump(recipe))
    result = invoke("validate", str(path))
    assert result.exit_code == 2 and "generate[0].params.model" in result.output


def test_list_shows_the_concept_synthesizers() -> None:
    output = invoke("list", "synthesizers").output
    assert "gaa " in output and "anogen " in output


def test_a_build_refuses_to_resume_over_relearned_concepts(learned: Path, tmp_path: Path) -> None:
    from anomset.concepts import checkpoint

    recipe = yaml.safe_load(learned.read_text())
    recipe["output"]["dir"] = str(tmp_path / "out")
    recipe["output"]["shard_size"] = 4
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert invoke("build", str(path), "--no-progress").exit_code == 0
    (tmp_path / "out" / "manifest.json").unlink()  # as if the build had stopped before its end
    target = learned.parent / "concepts" / "washer" / "anogen.safetensors"
    saved = checkpoint.load(target)
    original = target.read_bytes()
    try:
        checkpoint.save(target, {**saved.tensors, "tokens": saved.tensors["tokens"] + 1.0}, saved.meta)
        result = invoke("build", str(path), "--no-progress")
        assert result.exit_code == 4 and "concepts.dir" in result.output and len(error_lines(result.output)) == 1
    finally:
        target.write_bytes(original)


def test_gaa_and_anogen_generate_in_bfloat16(learned: Path, tmp_path: Path) -> None:
    """The GPU dtype path (fp32 learned vectors into a bf16 text encoder and UNet), run on the CPU."""
    from anomset.masks.geometric import GeometricMask

    recipe = yaml.safe_load(learned.read_text())
    for entry in recipe["classes"]["washer"]["generate"]:
        entry["params"]["dtype"] = "bfloat16"
    path = tmp_path / "bf16.yaml"
    path.write_text(yaml.safe_dump(recipe))
    for entry in (0, 1):  # gaa, anogen
        synth, normal, context = washer_gaa(path, entry)
        masks = [GeometricMask()((64, 64), context, np.random.default_rng(i)).mask for i in range(2)]
        made = synth.apply_batch([normal.image] * 2, masks, [context] * 2, [np.random.default_rng(i) for i in range(2)])
        for result, mask in zip(made, masks, strict=True):
            assert result.params["dtype"] == "bfloat16"
            assert np.array_equal(result.image[mask == 0], normal.image[mask == 0])
            assert np.any(result.image[mask > 0] != normal.image[mask > 0])
        synth.teardown()
