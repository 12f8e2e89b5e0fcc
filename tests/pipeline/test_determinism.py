"""Same recipe, same bytes: rebuilds, a different output folder, and 1 vs 2 processes."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from anomset.recipe import load_recipe
from anomset.workflow import build_dataset
from tests.conftest import tiny_recipe, write_recipe
from tests.helpers import accelerate_launch, build_env, tree_digest


def test_rebuild_is_byte_identical(tmp_path: Path, tiny_recipe_path: Path) -> None:
    loaded = load_recipe(tiny_recipe_path)
    build_dataset(loaded, tmp_path / "a", progress=False)
    build_dataset(loaded, tmp_path / "b", progress=False)
    a, b = tree_digest(tmp_path / "a"), tree_digest(tmp_path / "b")
    assert a == b
    assert any(k.endswith(".tar") for k in a)


def test_seed_changes_bytes_and_hash(tmp_path: Path) -> None:
    first = load_recipe(write_recipe(tmp_path / "r1.yaml", tiny_recipe(seed=0)))
    second = load_recipe(write_recipe(tmp_path / "r2.yaml", tiny_recipe(seed=1)))
    assert first.data_hash != second.data_hash
    build_dataset(first, tmp_path / "a", progress=False)
    build_dataset(second, tmp_path / "b", progress=False)
    tar = "data/brick/train-000001.tar"
    assert tree_digest(tmp_path / "a")[tar] != tree_digest(tmp_path / "b")[tar]


def test_output_dir_does_not_change_hash(tmp_path: Path) -> None:
    base = tiny_recipe()
    a = load_recipe(write_recipe(tmp_path / "a.yaml", {**base, "output": {**base["output"], "dir": "x"}}))
    b = load_recipe(write_recipe(tmp_path / "b.yaml", {**base, "output": {**base["output"], "dir": "y"}}))
    assert (a.data_hash, a.recipe_hash) == (b.data_hash, b.recipe_hash)


def test_tar_members_are_sorted_with_fixed_metadata(tmp_path: Path, tiny_recipe_path: Path) -> None:
    build_dataset(load_recipe(tiny_recipe_path), tmp_path / "out", progress=False)
    for shard in sorted((tmp_path / "out" / "data").rglob("*.tar")):
        with tarfile.open(shard) as tar:
            members = tar.getmembers()
        names = [m.name for m in members]
        assert names == sorted(names)
        assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(946684800, 0, 0, "", "")}
        keys = {n.split(".", 1)[0] for n in names}
        assert all("." not in k for k in keys)
        assert names == [f"{k}.{s}" for k in sorted(keys) for s in ("cls", "image.png", "json", "mask.png")]


def test_two_processes_match_one(tmp_path: Path, tiny_recipe_path: Path) -> None:
    """accelerate launch with 2 CPU processes writes the same bytes as a plain build."""
    command = accelerate_launch("-m", "anomset", "build", str(tiny_recipe_path), "--out", str(tmp_path / "two"),
                                "--no-progress")
    build_dataset(load_recipe(tiny_recipe_path), tmp_path / "one", progress=False)
    result = subprocess.run(command, env=build_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 processes" in result.stdout
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")
