"""Quality filters in a build: keep_top keeps the planned counts, bytes do not depend on the processes,
ARS scores land in the json, the audit lists every candidate, fits are shared and resumed."""

from __future__ import annotations

import json
import math
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from anomset.dataset.reader import iter_decoded, read_manifest
from anomset.recipe import load_recipe
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe
from tests.features.tiny_models import tiny_resnet
from tests.helpers import accelerate_launch, build_env, tree_digest

FAST_ARS = dict(image_size=64, layers=["stage1", "stage2"], steps=10, patches_per_step=64, hidden=16, lr=1e-3,
                device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def resnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_resnet(tmp_path_factory.mktemp("backbone") / "resnet")


def filtered_recipe(resnet: Path, **quality) -> dict:
    """The tiny recipe with ARS on every brick entry (class level) and a min_score ARS on the washer entry."""
    recipe = tiny_recipe()
    recipe["output"]["shard_size"] = 4
    recipe["classes"]["brick"]["generate"][0]["count"] = 5
    recipe["classes"]["brick"]["quality"] = {"filter": "ars", "params": {"backbone": str(resnet), **FAST_ARS},
                                             **(quality or {"keep_top": 0.4})}
    recipe["classes"]["washer"]["generate"][0]["quality"] = {
        "filter": "ars", "min_score": -0.2, "params": {"backbone": str(resnet), **FAST_ARS}}
    recipe["classes"]["washer"]["generate"][0]["max_redraws"] = 60
    return recipe


def audit(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "quality" / "candidates.jsonl").read_text().splitlines()]


def samples(out: Path) -> list[dict]:
    return [meta for _, _, meta in iter_decoded(out)]


@pytest.fixture(scope="module")
def built(resnet: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("filtered")
    recipe = write_recipe(folder / "filtered.yaml", filtered_recipe(resnet))
    build_dataset(load_recipe(recipe), folder / "one", progress=False)
    return recipe, folder / "one"


def test_keep_top_keeps_the_planned_counts_from_ceil_n_over_keep_candidates_per_shard(built: tuple[Path, Path]) -> None:
    _, out = built
    manifest = read_manifest(out)
    assert manifest["counts"]["brick"]["train"]["by_generator"] == {"cutpaste": 5, "draem": 3, "normal": 4}
    rows = [r for r in audit(out) if r["class"] == "brick"]
    per_shard: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        per_shard.setdefault((row["shard"], row["entry"]), []).append(row)
    planned = Counter()
    for meta in samples(out):
        if meta["class"] == "brick" and meta["origin"] == "synthetic":
            planned[meta["generator"]] += 1
    assert planned == {"cutpaste": 5, "draem": 3}
    for (shard, entry), members in per_shard.items():
        kept = [r for r in members if r["kept"]]
        assert len(members) == math.ceil(len(kept) / 0.4), (shard, entry)
        # the kept ones are the best of the shard's candidates of that entry
        assert min(r["score"] for r in kept) >= max([r["score"] for r in members if not r["kept"]], default=-1e9)
    summary = {(e["class"], e["entry"]): e for e in manifest["quality"]["entries"]}
    assert summary[("brick", "generate[0]")]["kept"] == 5 and summary[("brick", "generate[1]")]["kept"] == 3
    assert summary[("brick", "generate[0]")]["candidates"] == sum(
        len(m) for (s, e), m in per_shard.items() if e == "generate[0]")


def test_ars_scores_land_in_the_json_and_match_the_audit(built: tuple[Path, Path]) -> None:
    _, out = built
    kept = {r["sample"]: r for r in audit(out) if r["kept"]}
    synthetic = [m for m in samples(out) if m["origin"] == "synthetic"]
    assert synthetic and all(m["ars_score"] != -1.0 for m in synthetic)
    for meta in synthetic:
        assert meta["ars_score"] == kept[meta["key"]]["score"]
        assert meta["seed"] == kept[meta["key"]]["seed"]
    assert all(m["ars_score"] == -1.0 for m in samples(out) if m["origin"] != "synthetic")


def test_min_score_redraws_until_a_try_passes_and_lists_every_try(built: tuple[Path, Path]) -> None:
    _, out = built
    rows = [r for r in audit(out) if r["class"] == "washer"]
    assert {r["rule"] for r in rows} == {"min_score"}
    by_sample: dict[str, list[dict]] = {}
    for row in rows:
        by_sample.setdefault(row["host"], []).append(row)
    assert len(by_sample) == 4  # the washer entry's count
    for tries in by_sample.values():
        assert [r["candidate"] for r in tries] == list(range(len(tries)))
        assert [r["kept"] for r in tries] == [False] * (len(tries) - 1) + [True]
        assert all(r["score"] < -0.2 for r in tries[:-1]) and tries[-1]["score"] >= -0.2


def test_the_card_shows_the_kept_share_and_a_score_plot_per_class_and_generator(built: tuple[Path, Path]) -> None:
    _, out = built
    card = (out / "README.md").read_text()
    # 5 samples over shards of 4 + 1 slots: ceil(4 / 0.4) + ceil(1 / 0.4) = 13 candidates
    assert "| brick | generate[0] | cutpaste | ars | keep_top 0.4 | 13 | 5 | 38.5% |" in card
    for name in ("ars-brick-cutpaste.png", "ars-brick-draem.png", "ars-washer-draem.png"):
        assert (out / "assets" / name).is_file() and f"assets/{name}" in card


def test_two_processes_give_the_same_bytes(built: tuple[Path, Path], tmp_path: Path) -> None:
    recipe, one = built
    command = accelerate_launch("-m", "anomset", "build", str(recipe), "--out", str(tmp_path / "two"), "--no-progress")
    result = subprocess.run(command, env=build_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 processes" in result.stdout
    assert tree_digest(one) == tree_digest(tmp_path / "two")


def test_a_resumed_build_loads_the_saved_fit_and_rewrites_the_same_bytes(built: tuple[Path, Path],
                                                                          tmp_path: Path) -> None:
    recipe, one = built
    loaded = load_recipe(recipe)
    out = tmp_path / "resumed"
    build_dataset(loaded, out, progress=False)
    fits = sorted((out / ".anomset" / "quality").rglob("ars.safetensors"))
    assert len(fits) == 2  # brick's entries share their class's filter: one fit; washer one
    stamps = [f.stat().st_mtime_ns for f in fits]
    shard = next(iter(sorted((out / "data" / "brick").glob("train-*.tar"))))
    shard.unlink()
    (out / "manifest.json").unlink()
    result = build_dataset(load_recipe(recipe), out, progress=False)
    assert result.action == "resume" and result.shards_written == 1
    assert [f.stat().st_mtime_ns for f in fits] == stamps  # loaded, not fitted again
    assert tree_digest(out) == tree_digest(one)


def test_keep_top_one_keeps_every_candidate(resnet: Path, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path / "all.yaml", filtered_recipe(resnet, keep_top=1.0))
    build_dataset(load_recipe(recipe), tmp_path / "out", progress=False)
    rows = [r for r in audit(tmp_path / "out") if r["class"] == "brick"]
    assert len(rows) == 8 and all(r["kept"] for r in rows)


def test_a_moved_backbone_folder_keeps_the_saved_fits(resnet: Path, tmp_path: Path) -> None:
    import shutil

    recipe = write_recipe(tmp_path / "r.yaml", filtered_recipe(resnet, keep_top=0.5))
    out = tmp_path / "out"
    build_dataset(load_recipe(recipe), out, progress=False)
    fits = sorted((out / ".anomset" / "quality").rglob("ars.safetensors"))
    stamps = [f.stat().st_mtime_ns for f in fits]
    moved = shutil.copytree(resnet, tmp_path / "elsewhere" / "resnet")
    again = write_recipe(tmp_path / "moved.yaml", filtered_recipe(moved, keep_top=0.5))
    next(iter(sorted((out / "data" / "brick").glob("train-*.tar")))).unlink()
    (out / "manifest.json").unlink()
    result = build_dataset(load_recipe(again), out, progress=False)
    assert result.action == "resume" and result.shards_written == 1
    assert sorted((out / ".anomset" / "quality").rglob("ars.safetensors")) == fits
    assert [f.stat().st_mtime_ns for f in fits] == stamps  # the moved backbone's fits were loaded, not redone
