"""``anomset quality OUT`` on a tiny build with tiny random networks: rows per class and generator, the
protocol beside every figure, results.json (schema 3, detector rows kept) and the card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from anomset.cli import main
from anomset.dataset.reader import read_manifest
from anomset.features.backbone import Backbone
from anomset.hub.detector_results import read_results
from anomset.quality import metric_features as mf
from anomset.quality import metrics
from anomset.quality.report import QualityProtocol, collect, quality_rows
from tests.features.tiny_models import tiny_resnet


def tiny_classifier(folder: Path) -> Path:
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(1)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=5)
    ResNetForImageClassification(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def networks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("nets")
    return tiny_resnet(folder / "resnet"), tiny_classifier(folder / "classifier")


@pytest.fixture
def built(tmp_path: Path, tiny_recipe_path: Path) -> Path:
    from anomset.recipe import load_recipe
    from anomset.workflow import build_dataset

    build_dataset(load_recipe(tiny_recipe_path), tmp_path / "out", progress=False)
    return tmp_path / "out"


def args(networks: tuple[Path, Path], *extra: str) -> list[str]:
    return ["--backbone", str(networks[0]), "--layers", "stage1,stage2", "--classifier", str(networks[1]),
            "--image-size", "64", "-k", "2", "--kid-subsets", "5", "--device", "cpu", *extra]


def test_quality_writes_a_row_per_class_and_generator_with_its_protocol(built: Path, networks) -> None:
    results = built / "benchmarks" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    detector_row = {"detector": "unet", "protocol": "ratio_sweep", "class": "brick", "setting": {}, "seeds": [0],
                    "metrics": {"image_auroc": {"mean": 0.9, "std": 0.0}}}
    results.write_text(json.dumps({"schema": "anomset.benchmarks/2", "dataset": {"data_hash": "x"},
                                   "results": [detector_row]}))
    result = CliRunner().invoke(main, ["quality", str(built), *args(networks, "--reference", "normals")])
    assert result.exit_code == 0, result.output
    data = json.loads(results.read_text())
    assert data["schema"] == "anomset.benchmarks/3" and data["results"] == [detector_row]
    pairs = {(r["class"], r["generator"]) for r in data["quality"]}
    assert pairs == {("brick", "cutpaste"), ("brick", "draem"), ("washer", "draem")}
    for row in data["quality"]:
        assert row["reference"] == "normals" and set(row["metrics"]) <= {"kid", "is", "ic_lpips"}
        assert {"kid", "is"} <= set(row["metrics"])
        protocol = row["protocol"]
        assert protocol["features"]["model"] == str(networks[0])
        assert protocol["features"]["layers"] == ["stage1", "stage2"] and protocol["image_size"] == [64, 64]
        assert protocol["classifier"]["model"] == str(networks[1]) and protocol["ic_lpips"]["k"] == 2
        assert protocol["seed"] == 0 and protocol["samples"]["generated"] >= 2 and protocol["kid"]["subsets"] == 5
    assert read_results(built) is not None
    card = (built / "README.md").read_text()
    assert "| brick | cutpaste | normals |" in card and f"`{networks[0]}`" in card


def test_the_figures_are_the_metric_functions_on_the_build_images(built: Path, networks) -> None:
    protocol = QualityProtocol(backbone=str(networks[0]), layers=("stage1", "stage2"), classifier=str(networks[1]),
                               image_size=64, reference="normals", k=2, kid_subsets=5, device="cpu")
    rows = {(r["class"], r["generator"]): r for r in quality_rows(built, protocol)}
    images = collect(built, read_manifest(built), "washer", 1000)
    generated, reference = images.generated["draem"], images.normals
    backbone = Backbone(str(networks[0]), layers=["stage1", "stage2"], image_size=64, pool=1, device="cpu")
    expected = metrics.kid(mf.kid_features(backbone, reference), mf.kid_features(backbone, generated),
                           np.random.default_rng(0), subsets=5)
    assert rows[("washer", "draem")]["metrics"]["kid"]["mean"] == pytest.approx(expected.mean)
    logits, _ = mf.classifier_logits(str(networks[1]), generated, image_size=64, device="cpu")
    inception = metrics.inception_score(logits, splits=min(10, len(generated)))
    assert rows[("washer", "draem")]["metrics"]["is"]["mean"] == pytest.approx(inception.mean)
    again = {(r["class"], r["generator"]): r for r in quality_rows(built, protocol)}
    assert again == rows  # seeded: the same figures twice


def test_defects_reference_falls_back_to_normals_and_says_so(built: Path, networks) -> None:
    protocol = QualityProtocol(backbone=str(networks[0]), layers=("stage1",), classifier=str(networks[1]),
                               image_size=64, k=2, kid_subsets=3, device="cpu")
    rows = quality_rows(built, protocol)
    manifest = read_manifest(built)
    for row in rows:
        defects = manifest["counts"][row["class"]]["test"]["by_generator"].get("real", 0)
        assert row["reference"] == ("defects" if defects >= 2 else
                                    "normals (the class has fewer than 2 real test defects)")


def test_a_backbone_folder_that_is_not_a_model_is_one_line(built: Path, networks, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["quality", str(built), "--backbone", str(tmp_path / "empty"),
                                       "--classifier", str(networks[1])])
    line = result.output.strip()
    assert result.exit_code != 0 and "\n" not in line and "Traceback" not in line
    assert "not a transformers model folder" in line and "quality.backbone" in line
