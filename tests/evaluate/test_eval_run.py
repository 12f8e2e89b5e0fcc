"""``anomset eval`` end to end on a tiny toy build: rows, provenance, plots, card, resume, ranks, bad input."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from eval_helpers import TINY_UNET, TOY_TEST, eval_recipe, register_mean_diff, unregister_mean_diff, write_eval

from anomset.build.protocol import shown_defect_keys
from anomset.cli import main
from anomset.eval_workflow import plan_eval, run_eval
from anomset.evaluate.recipe import load_eval_recipe
from anomset.hub.detector_results import read_results
from anomset.recipe import load_recipe
from anomset.registry import SOURCES
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe
from tests.helpers import build_env

pytestmark = pytest.mark.usefixtures("mean_diff")


@pytest.fixture
def mean_diff():
    register_mean_diff()
    yield
    unregister_mean_diff()


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evalbuild")
    build_dataset(load_recipe(write_recipe(folder / "tiny.yaml", tiny_recipe())), folder / "out", progress=False)
    return folder / "out"


@pytest.fixture
def build(tiny_build: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_build, tmp_path / "out"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def test_eval_writes_rows_with_provenance_plots_and_the_card(build: Path, tmp_path: Path) -> None:
    recipe = write_eval(tmp_path / "eval.yaml", eval_recipe(build, protocols=["plain", "cross", "hybrid"]))
    loaded = load_eval_recipe(recipe)
    result = run_eval(loaded, progress=False, echo=lambda line: None)
    results = read_results(build)
    assert results is not None and result.results_path == build / "benchmarks" / "results.json"
    manifest = json.loads((build / "manifest.json").read_text())
    assert results.dataset.data_hash == manifest["data_hash"]
    plain = [r for r in results.results if r.protocol == "plain"]
    assert {r.class_ for r in plain} == {"brick", "washer"}
    for row in results.results:
        assert row.seeds == [0, 1] and row.eval_hash == loaded.eval_hash
        assert row.dataset_recipe_hash == manifest["recipe_hash"] and len(row.test_fingerprint) == 64
        assert {"image_auroc", "pixel_auroc", "pixel_pro"} <= set(row.metrics)
    cross = {(r.class_, r.setting["test_class"]) for r in results.results if r.protocol == "cross"}
    assert cross == {(a, b) for a in ("brick", "washer") for b in ("brick", "washer")}
    # the cross diagonal is the plain row (same training set, same test set)
    diagonal = next(r for r in results.results if r.protocol == "cross" and r.setting["test_class"] == "brick"
                    and r.class_ == "brick")
    assert diagonal.metrics["pixel_auroc"] == next(r for r in plain if r.class_ == "brick").metrics["pixel_auroc"]
    off = next(r for r in results.results if r.protocol == "cross" and r.class_ == "washer"
               and r.setting["test_class"] == "brick")
    assert off.metrics["pixel_auroc"] != diagonal.metrics["pixel_auroc"]
    hybrid = {r.setting["generators"] for r in results.results if r.protocol == "hybrid" and r.class_ == "brick"}
    assert hybrid == {"cutpaste", "draem", "cutpaste+draem"}
    paths = {p.path for p in results.plots}
    assert {"benchmarks/roc_pr_pixel_brick.png", "benchmarks/localisation.png",
            "benchmarks/cross_mean_diff_pixel_auroc.png"} <= paths
    for path in paths:
        assert cv2.imread(str(build / path)) is not None
    card = (build / "README.md").read_text()
    assert "### plain" in card and "| mean_diff | brick |" in card and "### cross" in card


def test_the_shown_third_is_never_scored(build: Path, tmp_path: Path) -> None:
    plan = plan_eval(load_eval_recipe(write_eval(tmp_path / "eval.yaml", eval_recipe(build))))
    source = SOURCES.get("toy")(**TOY_TEST["params"])
    for name in ("brick", "washer"):
        shown = set(shown_defect_keys(source.items(name), "1/3"))
        assert len(shown) == len({i.defect_type for i in source.items(name) if not i.is_normal})  # 1 of 3 per type
        scored = {i.key for i in plan.real[name].scored}
        assert not scored & shown and {i.key for i in plan.real[name].shown} == shown
        assert all(key.endswith("00000") for key in shown)  # the first of each type in key order


def test_a_killed_eval_reruns_only_the_missing_units(build: Path, tmp_path: Path) -> None:
    recipe = write_eval(tmp_path / "eval.yaml", eval_recipe(build, protocols=["plain", "hybrid"]))
    first = run_eval(load_eval_recipe(recipe), progress=False, echo=lambda line: None)
    before = (build / "benchmarks" / "results.json").read_bytes()
    units = sorted((build / ".anomset" / "eval").rglob("*.json"))
    assert len(units) == first.units == first.computed
    units[3].unlink()
    again = run_eval(load_eval_recipe(recipe), progress=False, echo=lambda line: None)
    assert again.computed == 1
    assert (build / "benchmarks" / "results.json").read_bytes() == before
    assert run_eval(load_eval_recipe(recipe), progress=False, echo=lambda line: None).computed == 0


def test_same_figures_with_two_processes(build: Path, tmp_path: Path) -> None:
    single = tmp_path / "single"
    shutil.copytree(build, single)
    recipe = eval_recipe(build, detectors=[{"type": "unet", "params": TINY_UNET}], protocols=["plain", "count"])
    recipe["protocols"] = ["plain", {"type": "count", "params": {"counts": [2]}}]
    two = write_eval(tmp_path / "two.yaml", recipe)
    one = write_eval(tmp_path / "one.yaml", {**recipe, "dataset": str(single)})
    env = build_env()
    for path, processes in ((two, "2"), (one, "1")):
        done = subprocess.run([sys.executable, "-m", "anomset", "eval", str(path), "--no-progress", "-j", processes],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    rows = [json.loads((folder / "benchmarks" / "results.json").read_text())["results"] for folder in (build, single)]
    assert rows[0] == rows[1] and len(rows[0]) == 4
    assert not (build / ".anomset" / "ranks").exists() or not any((build / ".anomset" / "ranks").iterdir())


def _fails(recipe: Path, out: Path) -> str:
    before = _digest(out / "benchmarks" / "results.json")
    result = CliRunner().invoke(main, ["eval", str(recipe), "--no-progress"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert _digest(out / "benchmarks" / "results.json") == before
    return lines[0]


def test_bad_input_is_one_line_and_leaves_results_untouched(build: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    cases = [
        (eval_recipe(tmp_path / "empty"), "dataset: ", "not an anomset build"),
        (eval_recipe(build, detectors=[{"type": "unett"}]), "detectors[0].type", "did you mean 'unet'"),
        (eval_recipe(build, metrics=["pixel_aurocc"]), "metrics", "did you mean 'pixel_auroc'"),
        (eval_recipe(build, test={"source": TOY_TEST, "classes": ["gravel"]}), "test.classes",
         "the dataset has no class 'gravel'"),
        (eval_recipe(build, protocols=["plain", "correlation"]), "", ""),  # needs hybrid: checked below
        (eval_recipe(build, protocols=["plian"]), "protocols[0].type", "did you mean 'plain'"),
        (eval_recipe(build, seeds=[1, 1]), "seeds", "distinct"),
        (eval_recipe(build, tset={}), "", "did you mean 'test'"),
    ]
    cases[4] = (cases[4][0], "protocols[1]", "add hybrid to protocols")
    for recipe, field, message in cases:
        line = _fails(write_eval(tmp_path / "bad.yaml", recipe), build)
        assert field in line and message in line, line
    # a class the dataset has but the test source lacks
    narrow = {"type": "toy", "params": {**TOY_TEST["params"], "classes": ["brick"]}}
    line = _fails(write_eval(tmp_path / "bad.yaml", eval_recipe(build, test={"source": narrow})), build)
    assert "test.classes" in line and "'washer' is missing from the test source" in line


def test_a_broken_results_json_stops_before_training(build: Path, tmp_path: Path) -> None:
    (build / "benchmarks").mkdir(exist_ok=True)
    (build / "benchmarks" / "results.json").write_text("{not json")
    line = _fails(write_eval(tmp_path / "eval.yaml", eval_recipe(build)), build)
    assert "results.json: not valid JSON" in line
    assert not (build / ".anomset" / "eval").exists()


def test_supervised_detector_on_a_build_without_train_anomalies(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    for plan in recipe["classes"].values():
        plan["generate"] = []
    out = tmp_path / "normals"
    build_dataset(load_recipe(write_recipe(tmp_path / "normals.yaml", recipe)), out, progress=False)
    line = _fails(write_eval(tmp_path / "eval.yaml", eval_recipe(out, detectors=[{"type": "unet"}])), out)
    assert "detectors[0]" in line and "unet is supervised but class 'brick' has no train anomalies" in line


def test_a_test_source_without_masks_skips_pixel_metrics(build: Path, tmp_path: Path) -> None:
    from anomset.sources.toy.source import ToySource

    class MasklessToy(ToySource):
        """The toy source, its defects without masks (as a classification-only dataset gives them)."""

        def load(self, item):
            loaded = super().load(item)
            loaded.mask = None
            return loaded

    SOURCES.register("maskless_toy")(MasklessToy)
    try:
        source = {"type": "maskless_toy", "params": TOY_TEST["params"]}
        recipe = write_eval(tmp_path / "eval.yaml", eval_recipe(build, test={"source": source, "classes": ["brick"]}))
        result = CliRunner().invoke(main, ["eval", str(recipe), "--no-progress"])
    finally:
        SOURCES._entries.pop("maskless_toy", None)
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "pixel metrics skipped" in line]
    assert len(notes) == 1 and "brick" in notes[0]
    rows = read_results(build).results
    assert rows and all(not any(m.startswith("pixel_") for m in r.metrics) and "image_auroc" in r.metrics
                        for r in rows)
    assert np.isfinite([r.metrics["image_auroc"].mean for r in rows]).all()


def test_a_published_dataset_is_read_through_load_dataset(build: Path, tmp_path: Path, monkeypatch) -> None:
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    out = tmp_path / "bench"
    spec = eval_recipe(Path("unused"), protocols=["plain"], seeds=[0])
    spec["dataset"] = {"hub": str(build)}
    spec["output"] = str(out)
    published = run_eval(load_eval_recipe(write_eval(tmp_path / "hub.yaml", spec)), progress=False,
                         echo=lambda line: None)
    local = run_eval(load_eval_recipe(write_eval(tmp_path / "local.yaml", {**spec, "dataset": str(build),
                                                                           "output": str(tmp_path / "local")})),
                     progress=False, echo=lambda line: None)
    assert published.results_path == out / "benchmarks" / "results.json"
    rows = [read_results(folder).results for folder in (out, tmp_path / "local")]
    assert [r.metrics for r in rows[0]] == [r.metrics for r in rows[1]] and local.rows == 2
    manifest = json.loads((build / "manifest.json").read_text())
    assert read_results(out).dataset.data_hash == manifest["data_hash"]
    assert rows[0][0].dataset_recipe_hash == manifest["recipe_hash"]


def test_correlation_rows_and_kept_quality() -> None:
    from anomset.evaluate.report import Provenance, correlation_rows, merge_results
    from anomset.hub.detector_results import SCHEMA, DatasetRef, QualityRow, ResultRow, Results, Stat

    provenance = Provenance("d" * 64, "r" * 64, "t" * 64, "e" * 64)
    scores = {"cutpaste": 0.7, "draem": 0.9, "nsa": 0.8}
    rows = [ResultRow(detector="unet", protocol="hybrid", class_="brick", setting={"generators": g}, seeds=[0, 1],
                      metrics={"pixel_auroc": Stat(mean=v, std=0.0)}) for g, v in scores.items()]
    quality = Results(schema_=SCHEMA, dataset=DatasetRef(data_hash="d" * 64), quality=[
        QualityRow(class_="brick", generator=g, metrics={"kid": Stat(mean=k, std=0.0)})
        for g, k in (("cutpaste", 0.3), ("draem", 0.1), ("nsa", 0.2))])
    extra, notes = correlation_rows(rows, quality, "pixel_auroc", provenance)
    assert notes == [] and len(extra) == 1
    assert extra[0].metrics["spearman"].mean == pytest.approx(-1.0) and extra[0].setting["quality_metric"] == "kid"
    merged = merge_results(quality, rows + extra, [], provenance)
    assert merged.quality == quality.quality and len(merged.results) == 4
    assert correlation_rows(rows, None, "pixel_auroc", provenance)[1][0].startswith("correlation: results.json has")


@pytest.mark.slow
def test_accelerate_launch_gives_the_one_process_figures(build: Path, tmp_path: Path) -> None:
    from tests.helpers import accelerate_launch

    single = Path(shutil.copytree(build, tmp_path / "single"))
    recipe = eval_recipe(build, detectors=[{"type": "unet", "params": TINY_UNET}], protocols=["plain", "hybrid"])
    launched = write_eval(tmp_path / "launched.yaml", recipe)
    one = write_eval(tmp_path / "one.yaml", {**recipe, "dataset": str(single)})
    done = subprocess.run(accelerate_launch("-m", "anomset", "eval", str(launched), "--no-progress"), env=build_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    run_eval(load_eval_recipe(one), progress=False, echo=lambda line: None)
    rows = [json.loads((f / "benchmarks" / "results.json").read_text())["results"] for f in (build, single)]
    assert rows[0] == rows[1]


def test_accuracy_scores_the_classifiers_on_the_scored_real_defect_types(build: Path, tmp_path: Path) -> None:
    from eval_helpers import MeanDiff, MeanDiffParams

    from anomset.registry import DETECTORS
    from anomset.sources.toy.source import ToySource

    class AnswerParams(MeanDiffParams):
        answer: str = ""

    class AlwaysAnswers(MeanDiff):
        """A 'classifier' that names one defect type for every image: its accuracy is that type's share."""

        Params = AnswerParams

        def classify(self, images: np.ndarray) -> list[str]:
            return [self.params.answer] * len(images)

    toy = ToySource(**TOY_TEST["params"])
    types = sorted({i.defect_type for i in toy.items("brick") if not i.is_normal})
    DETECTORS.register("always_answers")(AlwaysAnswers)
    try:
        recipe = eval_recipe(build, test={"source": TOY_TEST, "classes": ["brick"]}, seeds=[0],
                             detectors=[{"type": "always_answers", "params": {"answer": types[0]}},
                                        {"type": "mean_diff"}],
                             metrics=["image_auroc", "accuracy"])
        result = CliRunner().invoke(main, ["eval", str(write_eval(tmp_path / "eval.yaml", recipe)), "--no-progress"])
    finally:
        DETECTORS._entries.pop("always_answers", None)
    assert result.exit_code == 0, result.output
    (row,) = [r for r in read_results(build).results if r.detector == "always_answers"]
    # Every type has 3 defects, the first of which is shown: 2 scored per type, so the share is 1 / types.
    assert row.metrics["accuracy"].mean == pytest.approx(1 / len(types))
    others = [r for r in read_results(build).results if r.detector == "mean_diff" and r.eval_hash == row.eval_hash]
    assert others and all("accuracy" not in r.metrics and "image_auroc" in r.metrics for r in others)  # no classifier
