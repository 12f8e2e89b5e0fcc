"""The dataset card: metadata that validates, DatasetCard.load round trip, hand edits kept, assets, benchmarks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard

from anomset.errors import OutputError
from anomset.hub.card import update_card, write_card
from anomset.hub.detector_results import RESULTS_PATH, SCHEMA
from anomset.hub.metadata import SOURCE_DATA, configs_and_info, licenses, metadata_problems

ROOT = Path(__file__).resolve().parents[2]


def card_of(out: Path) -> DatasetCard:
    return DatasetCard.load(out / "README.md")


def test_card_loads_back_and_its_metadata_validates(built):
    card = card_of(built)
    data = card.data.to_dict()
    assert metadata_problems(data) == []
    assert data["license"] == "cc-by-4.0" and data["pretty_name"] == "tiny"
    assert data["task_categories"] == ["image-segmentation", "image-classification"]
    assert {"synthetic", "anomaly-detection", "industrial-inspection", "webdataset"} <= set(data["tags"])
    assert data["size_categories"] == ["n<1K"] and data["source_datasets"] == ["original"]
    assert [c["config_name"] for c in data["configs"]] == ["all", "brick", "washer"]
    assert [i["config_name"] for i in data["dataset_info"]] == ["all", "brick", "washer"]
    brick = next(i for i in data["dataset_info"] if i["config_name"] == "brick")
    manifest = json.loads((built / "manifest.json").read_text())
    assert {s["name"]: s["num_examples"] for s in brick["splits"]} == {
        k: v["samples"] for k, v in manifest["counts"]["brick"].items()}
    assert "&id" not in (built / "README.md").read_text()  # no YAML anchors


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d["dataset_info"][1]["features"].__setitem__(2, {"name": "image", "dtype": "image"}), "features"),
    (lambda d: d["dataset_info"].pop(), "no entry for config"),
    (lambda d: d["configs"][1].__setitem__("default", True), "default"),
    (lambda d: d["dataset_info"][0]["features"][2].__setitem__("dtype", "string"), "not Image"),
    (lambda d: d.__setitem__("size_categories", ["huge"]), "size_categories"),
])
def test_metadata_validation_catches_broken_cards(built, breakage, message):
    data = card_of(built).data.to_dict()
    breakage(data)
    assert any(message in p for p in metadata_problems(data))


def test_body_shows_generation_counts_assets_and_rebuild(built):
    text = (built / "README.md").read_text()
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["recipe_hash"] in text
    assert "| brick | train | anomaly | cutpaste | cutpaste | 3 |" in text
    assert "| washer | train | draem | 4 |" in text  # by generator
    assert "![preview](assets/preview.png)" in text and "assets/samples-draem.png" in text
    for png in ("preview.png", "samples-draem.png", "samples-cutpaste.png", "samples-normal.png"):
        assert (built / "assets" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "anomset build recipe.yaml" in text and "Not evaluated yet" in text
    assert "## Limitations" in text and 'load_dataset("org/tiny", "brick")' in text


def test_rendering_is_idempotent_and_assets_deterministic(built):
    card = (built / "README.md").read_bytes()
    assets = {p.name: p.read_bytes() for p in (built / "assets").iterdir()}
    for p in (built / "assets").iterdir():
        p.unlink()
    write_card(built)
    assert (built / "README.md").read_bytes() == card
    assert {p.name: p.read_bytes() for p in (built / "assets").iterdir()} == assets


def _section(text: str, name: str) -> str:
    match = re.search(rf"<!-- anomset:begin {name} sha=\w* -->\n(.*?)<!-- anomset:end {name} -->", text, re.S)
    assert match, name
    return match.group(1)


def test_hand_edits_survive_a_new_render(built):
    path = built / "README.md"
    text = path.read_text()
    text = text.replace("license: cc-by-4.0", "license: mit\nlanguage:\n- en")  # changed + added fields
    text = text.replace("- webdataset\n", "- webdataset\n- my-tag\n")
    text = text.replace("  - name: test\n    num_examples: 6", "  - name: test\n    num_examples: 600")  # owned
    text = text.replace("## Limitations\n", "## Limitations\n\nOnly for demos.\n")  # edited section
    text = text.replace("<!-- anomset:begin quality", "Written by hand, outside any section.\n\n"
                        "<!-- anomset:begin quality")
    text = re.sub(r"<!-- anomset:begin rebuild.*?<!-- anomset:end rebuild -->\n", "", text, flags=re.S)  # deleted
    text = re.sub(r"(<!-- anomset:begin counts sha=\w+ -->\n).*?(<!-- anomset:end counts -->)", r"\1\2",
                  text, flags=re.S)  # emptied: regenerate
    path.write_text(text)
    _, kept = update_card(built)
    new = path.read_text()
    data = card_of(built).data.to_dict()
    assert data["license"] == "mit" and data["language"] == ["en"] and "my-tag" in data["tags"]
    assert metadata_problems(data) == []
    assert "num_examples: 600" not in new  # owned by anomset: must match the data
    assert "Only for demos." in _section(new, "limitations")
    assert "Written by hand, outside any section." in new
    assert "<!-- anomset:begin rebuild" not in new and "## Rebuild" not in new
    assert "| brick | train | 10 | 6 |" in _section(new, "counts")
    assert set(kept) >= {"license", "tags", "limitations"} and "counts" not in kept
    # a later render with changed data still keeps the edits, and is stable
    update_card(built, revision="v9")
    again = path.read_text()
    assert "Only for demos." in again and 'revision="v9"' in _section(again, "load")
    update_card(built, revision="v9")
    assert path.read_text() == again


def test_unedited_fields_follow_the_recipe(built):
    recipe = (built / "recipe.yaml").read_text().replace("pretty_name: null", "pretty_name: Tiny Set")
    (built / "recipe.yaml").write_text(recipe)
    write_card(built)
    assert card_of(built).data.pretty_name == "Tiny Set"
    assert "# Tiny Set" in (built / "README.md").read_text()


def test_new_template_section_is_inserted_in_order(built):
    path = built / "README.md"
    text = path.read_text()
    # pretend the card was written by an older template without the quality section
    text = re.sub(r"<!-- anomset:begin quality.*?<!-- anomset:end quality -->\n\n", "", text, flags=re.S)
    text = text.replace(',"quality",', ",")
    path.write_text(text)
    write_card(built)
    new = path.read_text()
    assert new.index("anomset:end benchmarks") < new.index("anomset:begin quality") < new.index(
        "anomset:begin rebuild")


def test_benchmarks_rendered_from_results_json(built):
    manifest = json.loads((built / "manifest.json").read_text())
    results = {
        "schema": SCHEMA,
        "dataset": {"repo": "org/tiny", "revision": "v1.0.0", "data_hash": manifest["data_hash"]},
        "results": [{"detector": "unet", "protocol": "ratio_sweep", "class": "brick",
                     "setting": {"synthetic_ratio": 0.5}, "seeds": [0, 1, 2],
                     "metrics": {"image_auroc": {"mean": 0.971, "std": 0.012}}}],
        "quality": [{"class": "brick", "generator": "draem", "metrics": {"kid": {"mean": 0.02, "std": 0.001}}}],
        "plots": [{"path": "benchmarks/sweep.png", "caption": "AUROC vs ratio"}],
    }
    (built / "benchmarks").mkdir()
    (built / RESULTS_PATH).write_text(json.dumps(results))
    write_card(built)
    text = (built / "README.md").read_text()
    assert "| unet | brick | synthetic_ratio=0.5 | 3 | 0.971 ± 0.012 |" in text
    assert "`v1.0.0`" in _section(text, "benchmarks") and "![AUROC vs ratio](benchmarks/sweep.png)" in text
    assert "| brick | draem | — | 0.020 ± 0.001 | — |" in _section(text, "quality")  # no reference, no protocol
    assert "computed on other data" not in text
    results["dataset"]["data_hash"] = "0" * 64
    (built / RESULTS_PATH).write_text(json.dumps(results))
    write_card(built)
    assert "computed on other data" in (built / "README.md").read_text()
    del results["results"][0]["seeds"]
    (built / RESULTS_PATH).write_text(json.dumps(results))
    with pytest.raises(OutputError, match="seeds"):
        write_card(built)


def test_licenses_include_the_source_data():
    assert licenses({"license": "mit", "source": {"type": "toy"}}) == "mit"
    assert licenses({"license": "mit", "source": {"type": "mvtec_ad"}}) == ["mit", SOURCE_DATA["mvtec_ad"][0]]
    assert licenses({"license": "cc-by-4.0", "source": {"type": "visa"}}) == "cc-by-4.0"
    assert licenses({"license": "mit", "source": {"type": "hf", "params": {"license": "apache-2.0"}}}) == [
        "mit", "apache-2.0"]


def test_configs_cover_every_class_and_split(built):
    manifest = json.loads((built / "manifest.json").read_text())
    configs, infos = configs_and_info(manifest)
    assert configs[0] == {"config_name": "all", "default": True, "data_files": [
        {"split": "test", "path": "data/*/test-*.tar"}, {"split": "train", "path": "data/*/train-*.tar"}]}
    total = {s["name"]: s["num_examples"] for s in infos[0]["splits"]}
    assert sum(total.values()) == manifest["total_samples"]


def test_template_ships_in_the_wheel_and_is_found_when_installed(tmp_path):
    src = tmp_path / "src"  # build from a copy: setuptools writes build/ and egg-info beside the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "anomset", "cards"):
        if not (ROOT / name).exists():
            continue
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # no PYTHONPATH: the checkout must not leak in
    dist, prefix = tmp_path / "dist", tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src),
                    "-w", str(dist)], check=True, capture_output=True, cwd=tmp_path, env=env)
    wheel = next(dist.glob("anomset-*.whl"))
    assert any(n.endswith("data/share/anomset/cards/dataset_card.md.j2") for n in zipfile.ZipFile(wheel).namelist())
    # --ignore-installed: without it pip uninstalls the anomset of the running environment first.
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", "--prefix",
                    str(prefix), str(wheel)],
                   check=True, capture_output=True, cwd=tmp_path, env=env)
    site = next(prefix.glob("lib/python*/site-packages"))
    code = "import anomset, anomset.hub.card as c; print(anomset.__file__); print(c.template_path())"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                           env={**env, "PYTHONPATH": str(site)})
    assert probe.returncode == 0, probe.stderr
    package, template = probe.stdout.split()
    assert package.startswith(str(site)) and template == str(prefix / "share/anomset/cards/dataset_card.md.j2")


def test_unreadable_card_yaml_is_a_clear_error(built):
    path = built / "README.md"
    path.write_text(path.read_text().replace("license: cc-by-4.0", "license: [unclosed", 1))
    with pytest.raises(OutputError, match=r"README\.md: the card's YAML metadata cannot be read"):
        write_card(built)
