"""Bad input through ``anomset build``: a non-zero exit, one line naming the file, no shard left behind."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from source_recipes import file_recipe, write_recipe
from source_trees import SIZE, folder_tree, mvtec_tree, write

from anomset.cli import main


def _garbage(path: Path) -> Path:
    path.write_bytes(b"this is not an image\n")
    return path


def _truncated(path: Path) -> Path:
    """A PNG whose header is fine but whose pixels stop half way: only decoding finds out."""
    _, data = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    path.write_bytes(data.tobytes()[: len(data) // 2])
    return path


def _wrong_size(path: Path) -> Path:
    return write(path, np.full((SIZE // 2, SIZE), 255, np.uint8))


def _remove(path: Path) -> Path:
    path.unlink()
    return path


# name -> (source type, classes, how to break the tree under root, what the message must name)
Breakage = Callable[[Path], list[str]]
CASES: dict[str, tuple[str, list[str], Breakage]] = {
    "mvtec corrupt train image": ("mvtec_ad", ["bottle"], lambda r: [
        str(_garbage(r / "bottle" / "train" / "good" / "002.png"))]),
    "mvtec corrupt mask": ("mvtec_ad", ["bottle"], lambda r: [
        str(_garbage(r / "bottle" / "ground_truth" / "crack" / "001_mask.png"))]),
    "mvtec mask size mismatch": ("mvtec_ad", ["bottle"], lambda r: [
        str(_wrong_size(r / "bottle" / "ground_truth" / "scratch" / "000_mask.png"))]),
    "mvtec missing mask": ("mvtec_ad", ["bottle"], lambda r: [
        str(r / "bottle" / "test" / "crack" / "000.png"),
        str(_remove(r / "bottle" / "ground_truth" / "crack" / "000_mask.png"))]),
    "mvtec empty class": ("mvtec_ad", ["bottle"], lambda r: [
        _empty(r / "bottle" / "train" / "good")]),
    "mvtec empty root": ("mvtec_ad", ["bottle"], lambda r: [_empty(r)]),
    "mvtec missing root": ("mvtec_ad", ["bottle"], lambda r: ["source.params.root", _gone(r)]),
    "folder corrupt defect image": ("folder", ["widget"], lambda r: [
        str(_garbage(r / "widget" / "defects" / "dent" / "d1.png"))]),
    "folder truncated normal (found while rendering)": ("folder", ["widget"], lambda r: [
        str(_truncated(r / "widget" / "good" / "img00.png"))]),
    "folder mask size mismatch": ("folder", ["widget"], lambda r: [
        str(_wrong_size(r / "widget" / "masks" / "dent" / "d1_mask.png"))]),
    "folder foreground size mismatch": ("folder", ["widget"], lambda r: [
        str(_wrong_size(r / "widget" / "foreground" / "img04.png"))]),
    "folder empty good": ("folder", ["widget"], lambda r: [
        _empty(r / "widget" / "good")]),
    "folder missing root": ("folder", ["widget"], lambda r: ["source.params.root", _gone(r)]),
}


def _empty(folder: Path) -> str:
    shutil.rmtree(folder)
    folder.mkdir()
    return str(folder)


def _gone(folder: Path) -> str:
    shutil.rmtree(folder)
    return str(folder)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_cleanly(case: str, tmp_path: Path) -> None:
    source_type, classes, breakage = CASES[case]
    tree = mvtec_tree if source_type == "mvtec_ad" else folder_tree
    root = tree(tmp_path / "data")
    recipe_path = write_recipe(tmp_path / "r.yaml", file_recipe(source_type, root, classes))
    named = breakage(root)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(recipe_path), "--out", str(out), "--no-progress"])
    assert result.exit_code not in (0, None) and isinstance(result.exception, SystemExit), result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for text in named:
        assert text in lines[0], (text, lines[0])
    left = [p for p in (out / "data").rglob("*") if p.is_file()] if (out / "data").exists() else []
    assert left == []
