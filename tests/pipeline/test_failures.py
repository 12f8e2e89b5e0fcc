"""An entry that cannot produce stops the build before it writes anything and says what to fix in one line."""

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
    # The pre-flight probe stops the build before anything is written: not even a state folder.
    assert not out.exists() or not any(out.iterdir())
    # Fixing the recipe builds in full (nothing of the failed build needs --overwrite).
    recipe["classes"]["washer"]["generate"][0]["params"] = {"opacity": [0.5, 1.0]}
    write_recipe(path, recipe)
    fixed = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"])
    assert fixed.exit_code == 0, fixed.output
    assert (out / "manifest.json").exists()
