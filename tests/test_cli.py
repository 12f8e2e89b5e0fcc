"""The CLI through click's CliRunner: build, validate, list, and the one-line error contract."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from anomset.cli import main
from anomset.errors import OutputError
from anomset.registry import SYNTHESIZERS


def test_build_then_rebuild(tmp_path: Path, tiny_recipe_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    first = runner.invoke(main, ["build", str(tiny_recipe_path), "--out", str(out), "--no-progress"])
    assert first.exit_code == 0, first.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"built {manifest['total_samples']} samples" in first.output
    header = f"# resolved by anomset; data_hash: {manifest['data_hash']}; recipe_hash: {manifest['recipe_hash']}"
    assert (out / "recipe.yaml").read_text().startswith(header)
    second = runner.invoke(main, ["build", str(tiny_recipe_path), "--out", str(out), "--no-progress"])
    assert second.exit_code == 0
    assert f"({len(manifest['shards'])} already done)" in second.output


def test_build_without_output_folder(tiny_recipe_path: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(tiny_recipe_path)])
    assert result.exit_code == OutputError.exit_code
    assert result.output.strip() == (f"error: {tiny_recipe_path}: output.dir: no output folder "
                                     "(fix: pass --out DIR or set output.dir in the recipe)")


def test_validate_ok(tiny_recipe_path: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(tiny_recipe_path)])
    assert result.exit_code == 0
    assert result.output.startswith(f"ok: {tiny_recipe_path} (2 classes, ")


def test_list_shows_registries() -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    for name in ("sources:", "masks:", "synthesizers:", "detectors:", "toy", "perlin", *SYNTHESIZERS.names()):
        assert name in result.output
    only = CliRunner().invoke(main, ["list", "synthesizers", "cut*"])
    assert "cutpaste" in only.output and "draem" not in only.output and "sources:" not in only.output


def test_list_unknown_kind() -> None:
    result = CliRunner().invoke(main, ["list", "synths"])
    assert result.exit_code != 0 and "unknown kind 'synths'" in result.output
