"""A failure while rendering leaves no partial shard and says what to fix in one line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from anomset.cli import main
from anomset.errors import SynthesisError
from tests.conftest import invisible_washer_recipe, write_recipe


def test_invisible_anomaly_fails_cleanly_and_resumes_after_fix(tmp_path: Path) -> None:
    recipe = invisible_washer_recipe()
    path = write_recipe(tmp_path / "r.yaml", recipe)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == SynthesisError.exit_code
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"error: {path}: classes.washer.generate[0]: draem made no visible anomaly")
    assert "fix:" in line
    assert not list(out.rglob("*.partial"))
    assert not (out / "manifest.json").exists()
    washer = sorted(p.name for p in (out / "data" / "washer").glob("*.tar"))
    # Shards before the failing one are complete and kept; the failing shard was never made visible.
    assert "train-000001.tar" not in washer
    # Fixing the recipe is a different recipe: refused without --overwrite, then built in full.
    recipe["classes"]["washer"]["generate"][0]["params"] = {"opacity": [0.5, 1.0]}
    write_recipe(path, recipe)
    refused = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"])
    assert refused.exit_code != 0 and "another recipe" in refused.output
    fixed = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress", "--overwrite"])
    assert fixed.exit_code == 0, fixed.output
    assert (out / "manifest.json").exists()
