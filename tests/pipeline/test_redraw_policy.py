"""The redraw policy: a normal image that cannot host a visible anomaly is replaced by another one of the
class (recorded, counted, deterministic); an entry that no image can host stops the build in one line."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from anomset.build.launch import open_source
from anomset.build.plan import make_plan
from anomset.build.render import Renderer
from anomset.cli import main
from anomset.dataset.reader import read_manifest
from anomset.errors import SynthesisError
from anomset.recipe import load_recipe
from tests.conftest import write_recipe
from tests.helpers import build_env, failed_build_line, tree_digest
from tests.sources.source_trees import image, write

FLAT = "flat"


def plate_tree(root: Path, textured: int, flat: int) -> Path:
    """A texture class with ``textured`` varied and ``flat`` uniform grey train normals, and one test normal.

    CutPaste without colour jitter copies a patch of the image itself: on a uniform image it changes
    nothing, so no draw there reaches ``min_visibility``.
    """
    good = root / "plate" / "good"
    for i in range(textured):
        write(good / "train" / f"{i:03d}.png", image(i + 1))
    for i in range(flat):
        write(good / "train" / f"{FLAT}{i:02d}.png", np.full((48, 48, 3), 128, np.uint8))
    write(good / "test" / "000.png", image(99))
    return root


def plate_recipe(root: Path, count: int = 16) -> dict:
    return {
        "name": "plates", "license": "cc-by-4.0", "seed": 0,
        "source": {"type": "folder", "params": {"root": str(root), "textures": ["plate"]}},
        "output": {"image_size": 48, "shard_size": 4},
        "classes": {"plate": {
            "normals": {"train": 0, "test": 0},
            "real_defects": {"train": 0, "test": 0},
            "generate": [{"synthesizer": "cutpaste", "count": count, "max_redraws": 3, "min_visibility": 2.0,
                          "params": {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.0}}],
        }},
    }


def _metas(out: Path) -> list[dict]:
    metas = []
    for shard in sorted((out / "data").rglob("*.tar")):
        with tarfile.open(shard) as tar:
            metas += [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
    return metas


def test_one_flat_image_is_replaced_recorded_and_counted(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", plate_recipe(plate_tree(tmp_path / "data", textured=2, flat=1)))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metas = _metas(out)
    assert len(metas) == 16
    replaced = [m for m in metas if m["source_key"] != m["planned_source_key"]]
    assert replaced, "the plan picked the flat image for no sample; raise count"
    for meta in replaced:
        assert FLAT in meta["planned_source_key"] and FLAT not in meta["source_key"]
        assert meta["redraws"] >= 4  # every try on the flat image failed before another image was taken
    assert all(FLAT not in m["source_key"] for m in metas)
    kept = [m for m in metas if m["source_key"] == m["planned_source_key"]]
    assert all(m["redraws"] == 0 for m in kept) and kept
    manifest = read_manifest(out)
    stats = manifest["counts"]["plate"]["train"]["by_entry"]["generate[0]"]
    assert stats == {"samples": 16, "redraws": sum(m["redraws"] for m in metas),
                     "redrawn": sum(m["redraws"] > 0 for m in metas), "replaced_sources": len(replaced)}
    assert manifest["fallbacks"]["replaced_sources"] == len(replaced)
    assert f"{len(replaced)} made from another normal image than planned" in result.output
    assert f"{len(replaced)} samples were made from another normal image" in (out / "README.md").read_text()


def test_fallback_build_is_the_same_with_two_processes(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", plate_recipe(plate_tree(tmp_path / "data", textured=2, flat=1)))
    one = CliRunner().invoke(main, ["build", str(path), "--out", str(tmp_path / "one"), "--no-progress"])
    assert one.exit_code == 0, one.output
    two = subprocess.run([sys.executable, "-m", "anomset", "build", str(path), "--out", str(tmp_path / "two"),
                          "--no-progress", "--processes", "2"], env=build_env(), capture_output=True, text=True,
                         timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")
    summary = [line for line in one.output.splitlines() if line.startswith("redraws:")]
    assert summary and summary[0] in two.stdout


def test_no_image_can_host_it_one_line_error_nothing_written(tmp_path: Path) -> None:
    path = write_recipe(tmp_path / "r.yaml", plate_recipe(plate_tree(tmp_path / "data", textured=0, flat=3)))
    out = tmp_path / "out"
    code, line = failed_build_line(path, out)
    assert code == SynthesisError.exit_code
    assert line.startswith(f"error: {path}: classes.plate.generate[0]: cutpaste made no visible anomaly")
    assert "nor on 2 other train normals" in line and "fix:" in line
    assert not out.exists() or not any(out.iterdir())
    validate = CliRunner().invoke(main, ["validate", str(path)])
    assert validate.exit_code == SynthesisError.exit_code and "classes.plate.generate[0]" in validate.output


def test_a_sample_that_exhausts_every_fallback_names_the_entry(tmp_path: Path) -> None:
    """Past the probe, a sample on an image that cannot host it, with no fallback allowed, stops cleanly."""
    root = plate_tree(tmp_path / "data", textured=1, flat=2)
    recipe = plate_recipe(root)
    recipe["classes"]["plate"]["generate"][0]["fallback_sources"] = 0
    loaded = load_recipe(write_recipe(tmp_path / "r.yaml", recipe))
    source, index = open_source(loaded)
    renderer = Renderer(loaded, source, index)  # no probe: render-time exhaustion itself is under test
    specs = [s for shard in make_plan(loaded, index) for s in shard.samples]
    flat = next(s for s in specs if FLAT in s.source_key)
    with pytest.raises(SynthesisError, match=r"no visible anomaly .* on plate/train/good/flat\d+ \(4 tries each\)"):
        renderer.render(flat)
    assert renderer.render(next(s for s in specs if FLAT not in s.source_key)).meta.redraws == 0
