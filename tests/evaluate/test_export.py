"""``anomset export OUT --format mvtec DIR``: read back through the mvtec_ad source, pixel for pixel."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from anomset.cli import main
from anomset.dataset.reader import iter_decoded
from anomset.evaluate import export as export_module
from anomset.recipe import load_recipe
from anomset.registry import SOURCES
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    recipe = tiny_recipe()
    recipe["classes"]["brick"]["generate"][0]["split"] = "test"  # synthetic anomalies in both splits
    build_dataset(load_recipe(write_recipe(folder / "r.yaml", recipe)), folder / "out", progress=False)
    return folder / "out"


def run_export(out: Path, target: Path):
    return CliRunner().invoke(main, ["export", str(out), "--format", "mvtec", str(target)])


def test_round_trip_through_the_mvtec_ad_source(built: Path, tmp_path: Path) -> None:
    target = tmp_path / "mvtec"
    result = run_export(built, target)
    assert result.exit_code == 0, result.output
    samples = {meta["key"]: (image, mask, meta) for image, mask, meta in iter_decoded(built)}
    assert f"exported {len(samples)} samples of 2 classes" in result.output

    source = SOURCES.get("mvtec_ad")(root=target)
    assert source.classes() == ["brick", "washer"]
    read_back = set()
    for class_name in source.classes():
        for item in source.items(class_name):
            key = item.key.rsplit("/", 1)[1]
            image, mask, meta = samples[key]
            loaded = source.load(item)
            assert (item.split, item.defect_type) == (meta["split"], meta["defect_type"])
            assert np.array_equal(loaded.image, image)
            if item.is_normal:
                assert loaded.mask is None and not mask.any()
            else:
                assert np.array_equal(loaded.mask, mask)
            read_back.add(key)
    # What MVTec AD cannot hold, train anomalies, sits beside it with masks of its own.
    train_anomalies = {k for k, (_, _, m) in samples.items() if m["split"] == "train" and m["defect_type"] != "good"}
    assert train_anomalies and read_back == set(samples) - train_anomalies
    for key in train_anomalies:
        image, mask, meta = samples[key]
        stored = cv2.cvtColor(cv2.imread(str(target / meta["class"] / "train" / meta["defect_type"] / f"{key}.png")),
                              cv2.COLOR_BGR2RGB)
        stored_mask = cv2.imread(str(target / meta["class"] / "train_ground_truth" / meta["defect_type"] /
                                     f"{key}_mask.png"), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(stored, image) and np.array_equal(stored_mask, mask)

    rows = [json.loads(line) for line in (target / "samples.jsonl").read_text().splitlines()]
    assert [r["key"] for r in rows] == list(samples)
    for row in rows:
        meta = samples[row["key"]][2]
        assert {k: row[k] for k in meta} == meta  # the sample json, unchanged
        assert (target / row["image_path"]).is_file()
        assert row["label"] == (meta["defect_type"] != "good")
        assert (row["mask_path"] != "") == bool(row["label"]) and (not row["mask_path"] or
                                                                  (target / row["mask_path"]).is_file())
    marker = json.loads((target / "anomset_export.json").read_text())
    assert marker["format"] == "mvtec" and marker["samples"] == len(samples)
    assert not list(tmp_path.glob(".*"))  # no temp folder left beside it


def test_refuses_a_foreign_folder_and_replaces_its_own(built: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = run_export(built, foreign)
    assert result.exit_code == 4
    assert result.output.count("\n") == 1 and "is not an anomset export" in result.output
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_export(built, empty).exit_code == 0
    stale = empty / "brick" / "stale.png"
    stale.write_bytes(b"x")
    assert run_export(built, empty).exit_code == 0  # an earlier export is replaced whole
    assert not stale.exists() and (empty / "samples.jsonl").is_file()

    assert run_export(built, built).exit_code == 4  # never into the build, nor inside it
    assert run_export(built, built / "mvtec").exit_code == 4 and not (built / "mvtec").exists()
    not_a_build = tmp_path / "nothing"
    not_a_build.mkdir()
    result = run_export(not_a_build, tmp_path / "x")
    assert result.exit_code == 4 and "no manifest.json" in result.output


def test_a_failure_midway_leaves_the_old_export_untouched(built: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "mvtec"
    assert run_export(built, target).exit_code == 0
    before = sorted(p.relative_to(target) for p in target.rglob("*"))
    calls = []

    def failing_write(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) > 5:
            raise OSError(28, "No space left on device")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    monkeypatch.setattr(export_module, "_write", failing_write)
    with pytest.raises(OSError):
        export_module.export_mvtec(built, target)
    assert sorted(p.relative_to(target) for p in target.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["mvtec"]
