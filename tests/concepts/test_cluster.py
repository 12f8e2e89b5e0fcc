"""Adaptive multi-round clustering: the k rule, the split rule, features inside the mask, the command."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from anomset.cli import main
from anomset.concepts.cluster import adaptive_clusters, choose_k, split_threshold, type_agreement
from anomset.concepts.features import combine_blocks, crop_box, lab_stats, lbp_histogram
from anomset.concepts.store import load_clusters
from tests.concepts.conftest import fewshot_recipe


def blobs(centres: list[tuple[float, float]], per: int, spread: float = 0.05, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(c, spread, (per, 2)) for c in centres])


def test_split_threshold_follows_the_formula_and_never_splits_small_classes() -> None:
    assert split_threshold(100) == pytest.approx(100 / (math.log(10) + 0.4))
    assert split_threshold(20) == pytest.approx(20 / (math.log(2) + 0.4))
    assert math.isinf(split_threshold(10)) and math.isinf(split_threshold(5))  # denominator <= 1


def test_ch_and_db_agree_on_three_separated_blobs() -> None:
    choice = choose_k(blobs([(0, 0), (5, 0), (0, 5)], 6), k_max=12, seed=0)
    assert choice.k == 3
    assert set(choice.scores) == set(range(2, 10))  # k <= n // 2
    assert choice.scores[3]["agreed"] == max(s["agreed"] for s in choice.scores.values())


def test_fewer_than_four_defects_make_one_cluster() -> None:
    assert adaptive_clusters(np.random.default_rng(0).normal(size=(3, 4))).labels == [0, 0, 0]


def test_a_dense_cluster_is_split_again() -> None:
    # 60 points: two far groups, one of 50 made of 5 tighter blobs. Threshold 60/(ln 6+0.4) ≈ 27.
    far = blobs([(100, 100)], 10, seed=1)
    dense = blobs([(0, 0), (3, 0), (0, 3), (3, 3), (1.5, 6)], 10, spread=0.1, seed=2)
    features = np.concatenate([dense, far])
    one_round = adaptive_clusters(features, k_max=2, max_rounds=1)
    assert one_round.count == 2
    again = adaptive_clusters(features, k_max=2, max_rounds=3)
    sizes = np.bincount(again.labels)
    assert again.count > 2 and sizes.max() <= split_threshold(60)
    assert again.labels[50:] == [again.labels[50]] * 10  # the far group stays whole


def test_clusters_are_numbered_by_their_first_member() -> None:
    labels = adaptive_clusters(blobs([(5, 5), (0, 0)], 5)).labels
    assert labels[0] == 0 and labels[5] == 1


def test_blocks_are_standardised_and_weighted() -> None:
    rng = np.random.default_rng(0)
    blocks = {"vit": rng.normal(0, 100, (10, 64)), "lab": rng.normal(0, 0.01, (10, 4))}
    out = combine_blocks(blocks, {"vit": 1.0, "lab": 2.0})
    lab, vit = out[:, :4], out[:, 4:]  # sorted block names: lab, vit
    assert (lab**2).sum() / 10 == pytest.approx(4.0)  # weight² × unit total variance
    assert (vit**2).sum() / 10 == pytest.approx(1.0)
    assert combine_blocks(blocks, {"vit": 1.0, "lab": 0.0}).shape == (10, 64)


def test_lab_and_lbp_see_only_the_mask() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    image[:, 16:] = 255
    mask = np.zeros((32, 32), np.uint8)
    mask[4:12, 20:28] = 255
    assert lab_stats(image, mask)[0] == pytest.approx(100.0, abs=1e-3)  # L of white only
    hist = lbp_histogram(image, mask, 8, 1.0)
    assert hist.sum() == pytest.approx(1.0) and hist.argmax() == 8  # flat: all neighbours >= centre


def test_crop_box_is_square_inside_the_image_with_context() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[90:98, 2:6] = 255
    x0, y0, x1, y1 = crop_box(mask, 0.5)
    assert x1 - x0 == y1 - y0 == 16 and x0 == 0 and y1 <= 100 and y0 <= 90


def test_cluster_command_writes_assignment_and_contact_sheets(tmp_path: Path, vit: Path) -> None:
    recipe = fewshot_recipe(tmp_path, vit)
    result = CliRunner().invoke(main, ["cluster", str(recipe), "--class", "washer"])
    assert result.exit_code == 0, result.output
    assert "washer: 6 shown defects of 3 types ->" in result.output and "purity" in result.output
    folder = tmp_path / "concepts" / "washer"
    saved = json.loads((folder / "clusters.json").read_text())
    assert len(saved["assignment"]) == 6 and set(saved["defect_types"].values()) == {"hole", "scratch", "stain"}
    assert saved["features"]["model"] == str(vit)
    assert saved["type_agreement"] == type_agreement(
        [int(saved["assignment"][k][1:]) for k in saved["defect_types"]], list(saved["defect_types"].values()))
    clusters = load_clusters(folder, saved["cluster_hash"]).clusters
    sheets = sorted(p.name for p in folder.glob("cluster-*.png"))
    assert sheets == sorted(f"cluster-{c}.png" for c in clusters) and len(clusters) >= 2
    assert cv2.imread(str(folder / sheets[0])).shape[2] == 3
    assert CliRunner().invoke(main, ["cluster", str(recipe), "--class", "washer"]).exit_code == 0
    assert json.loads((folder / "clusters.json").read_text()) == saved  # deterministic


def test_cluster_refuses_a_class_without_shown_defects(tmp_path: Path, vit: Path) -> None:
    recipe = fewshot_recipe(tmp_path, vit)
    data = yaml.safe_load(recipe.read_text())
    data["classes"]["washer"]["shown_defects"] = 0
    recipe.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(main, ["cluster", str(recipe), "--class", "washer"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "classes.washer.shown_defects" in result.output


def test_cluster_without_concepts_section_is_one_line(tmp_path: Path, tiny_recipe_path: Path) -> None:
    result = CliRunner().invoke(main, ["cluster", str(tiny_recipe_path)])
    assert result.exit_code == 2 and "concepts" in result.output and result.output.count("\n") == 1


def test_type_agreement_scores_purity_and_rand_index() -> None:
    assert type_agreement([0, 0, 1, 1], ["a", "a", "b", "b"]) == {"adjusted_rand": 1.0, "purity": 1.0}
    split = type_agreement([0, 1, 2, 2], ["a", "a", "b", "b"])  # a type split in two keeps purity
    assert split["purity"] == 1.0 and split["adjusted_rand"] < 1.0
    mixed = type_agreement([0, 0, 0, 1], ["a", "b", "b", "a"])
    assert mixed["purity"] == 0.75 and mixed["adjusted_rand"] < split["adjusted_rand"]
