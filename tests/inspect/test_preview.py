"""``anomset preview``: a deterministic, labelled grid of samples with mask overlays."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from built_output import build_tiny
from click.testing import CliRunner

from anomset.cli import main
from anomset.dataset.reader import read_manifest
from anomset.grid import OUTLINE, overlay
from anomset.preview import PANEL_GAP, choose, outlined_pair, share


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("preview"))


def test_cli_writes_a_deterministic_png(built: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    for png in (first, second):
        result = CliRunner().invoke(main, ["preview", str(built), "--out", str(png), "-n", "6"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"wrote {png} (6 samples)"
    assert first.read_bytes() == second.read_bytes()
    picture = cv2.imread(str(first))
    assert picture is not None and picture.shape[1] > 3 * 192  # three columns of 192 px tiles


def test_default_output_leaves_the_card_alone(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card_asset = built / "assets" / "preview.png"
    before = card_asset.read_bytes() if card_asset.is_file() else None
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["preview", str(built), "-n", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {built.name}-preview.png (2 samples)"
    assert (tmp_path / f"{built.name}-preview.png").is_file()
    assert (card_asset.read_bytes() if card_asset.is_file() else None) == before


def test_update_card_refreshes_the_card_asset(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["preview", str(built), "-n", "3", "--update-card"])
    assert result.exit_code == 0, result.output
    card_asset = built / "assets" / "preview.png"
    assert result.output.strip() == f"wrote {card_asset} (3 samples)"
    assert list(tmp_path.iterdir()) == []
    written = cv2.imread(str(card_asset))
    assert written is not None and written.shape[1] > 2 * 160  # a preview grid (image + mask per tile)


def test_preview_outlines_the_mask_beside_it() -> None:
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 255
    pair = outlined_pair(image, mask, 32)
    shown, beside = pair[:, :32], pair[:, 32 + PANEL_GAP:]
    assert np.array_equal(shown[11:19, 11:19], image[11:19, 11:19])  # the anomaly itself: untouched
    assert np.array_equal(shown[:9], image[:9])  # outside: untouched
    assert (shown[10, 10:20] == OUTLINE).all() and (shown[10:20, 19] == OUTLINE).all()  # its outline
    assert (beside[10:20, 10:20] == 255).all() and beside[:10].max() == 0  # the mask beside it


def test_choice_is_balanced_and_filtered(built: Path) -> None:
    manifest = read_manifest(built)
    picked = choose(built, manifest, None, None, 4)
    assert [c.meta["class"] for c in picked] == ["brick", "brick", "washer", "washer"]
    assert [c.meta["defect_type"] for c in picked][::2] == ["good", "good"]  # a normal first in each class
    test_only = choose(built, manifest, "washer", "test", 100)
    assert len(test_only) == sum(s["samples"] for s in manifest["shards"] if s["path"] == "data/washer/test-000000.tar")
    assert {(c.meta["class"], c.meta["split"]) for c in test_only} == {("washer", "test")}


def test_unknown_class_is_an_error(built: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["preview", str(built), "--class", "bolt", "--out", str(tmp_path / "p.png")])
    assert result.exit_code == 4
    assert result.output.strip() == f"error: {built}: no samples for class bolt and split any; classes: brick, washer"


def test_overlay_fills_inside_and_outlines() -> None:
    image = np.full((32, 32, 3), 100, np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 255
    out = overlay(image, mask)
    assert np.array_equal(out[:8], image[:8])  # far outside: untouched
    assert out[15, 15, 0] > 100 and out[15, 15, 2] < 100  # reddish fill inside
    assert not np.array_equal(out[10, 10:20], out[15, 10:20])  # the contour differs from the fill


def test_share_deals_in_turn() -> None:
    assert share(5, [10, 1, 10]) == [2, 1, 2]
    assert share(10, [2, 3]) == [2, 3]
