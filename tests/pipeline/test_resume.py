"""Interrupted builds resume to the same bytes; finished builds are left alone; foreign folders refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from anomset.errors import OutputError
from anomset.recipe import load_recipe
from anomset.workflow import build_dataset
from tests.conftest import many_shards_recipe, tiny_recipe, write_recipe
from tests.helpers import (
    accelerate_launch,
    assert_resumes_to,
    build_env,
    reference_build,
    tree_digest,
    wait_for_done_shards,
)


def _build_cli(recipe: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "anomset", "build", str(recipe), "--out", str(out),
                             "--no-progress"], env=build_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("kill_after_markers", [0, 1, 4])
def test_sigkill_then_resume_matches_clean_build(tmp_path: Path, kill_after_markers: int) -> None:
    recipe = many_shards_recipe(tmp_path)
    reference = tmp_path / "reference"
    build_dataset(load_recipe(recipe), reference, progress=False)
    out = tmp_path / "out"
    proc = _build_cli(recipe, out)
    markers = out / ".anomset" / "done"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        done = len(list(markers.rglob("*.json"))) if markers.exists() else 0
        if done >= kill_after_markers and (out / ".anomset" / "state.json").exists():
            break
        time.sleep(0.005)
    assert proc.poll() is None, "build finished before it could be killed; make the recipe bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists()
    result = build_dataset(load_recipe(recipe), out, progress=False)
    assert result.action == "resume"
    assert result.shards_written < result.shards_total or kill_after_markers == 0
    assert tree_digest(out) == tree_digest(reference)
    assert not list(out.rglob("*.partial"))


def test_damaged_shards_are_rewritten(tmp_path: Path, tiny_recipe_path: Path) -> None:
    out = tmp_path / "out"
    loaded = load_recipe(tiny_recipe_path)
    build_dataset(loaded, out, progress=False)
    reference = tree_digest(out)
    shards = sorted((out / "data").rglob("*.tar"))
    # A corrupted shard of the same size, a missing shard, and a stray partial file.
    data = bytearray(shards[0].read_bytes())
    data[1000] ^= 0xFF
    shards[0].write_bytes(bytes(data))
    shards[1].unlink()
    (out / "data" / "brick" / "train-000009.tar.partial").write_bytes(b"junk")
    result = build_dataset(loaded, out, progress=False)
    assert result.shards_written == 2
    assert tree_digest(out) == reference


def test_finished_build_does_nothing(tmp_path: Path, tiny_recipe_path: Path) -> None:
    out = tmp_path / "out"
    loaded = load_recipe(tiny_recipe_path)
    build_dataset(loaded, out, progress=False)
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "data").rglob("*.tar")}
    result = build_dataset(loaded, out, progress=False)
    assert result.shards_written == 0
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "data").rglob("*.tar")}


def test_other_recipe_refused_unless_overwrite(tmp_path: Path, tiny_recipe_path: Path) -> None:
    out = tmp_path / "out"
    build_dataset(load_recipe(tiny_recipe_path), out, progress=False)
    before = tree_digest(out, include_state=True)
    other = load_recipe(write_recipe(tmp_path / "other.yaml", tiny_recipe(seed=5)))
    with pytest.raises(OutputError, match="another recipe"):
        build_dataset(other, out, progress=False)
    assert tree_digest(out, include_state=True) == before
    result = build_dataset(other, out, overwrite=True, progress=False)
    assert result.action == "overwrite"
    assert tree_digest(out) != {k: v for k, v in before.items() if not k.startswith(".anomset")}


def test_a_state_from_before_source_fingerprints_still_resumes(tmp_path: Path, tiny_recipe_path: Path) -> None:
    out = tmp_path / "out"
    loaded = load_recipe(tiny_recipe_path)
    build_dataset(loaded, out, progress=False)
    state = out / ".anomset" / "state.json"
    assert json.loads(state.read_text())["source"] == "toy:0:64"
    # as builds wrote it before they recorded their source
    state.write_text(json.dumps({"data_hash": loaded.data_hash}))
    next(out.glob("data/*/*.tar")).unlink()
    result = build_dataset(loaded, out, progress=False)
    assert (result.action, result.shards_written) == ("resume", 1)


def test_foreign_folder_is_never_touched(tmp_path: Path, tiny_recipe_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("user data")
    for overwrite in (False, True):
        with pytest.raises(OutputError, match="not made by anomset"):
            build_dataset(load_recipe(tiny_recipe_path), out, overwrite=overwrite, progress=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_sigkill_of_a_two_process_build_then_single_process_resume(tmp_path: Path) -> None:
    """Kill every process of an accelerate launch mid-build; a plain rerun finishes it identically."""
    recipe = many_shards_recipe(tmp_path, count=60)
    reference = reference_build(recipe, tmp_path)
    out = tmp_path / "out"
    proc = _launch_two(recipe, out)
    # The elastic agent starts its workers in sessions of their own: kill the whole tree, as a crash would.
    family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for member in family:
        member.kill()
    psutil.wait_procs(family, timeout=30)
    proc.wait()
    assert not (out / "manifest.json").exists()
    assert_resumes_to(recipe, out, reference)


def test_workers_stop_when_only_the_launcher_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the launcher orphans its workers: they stop before their next shard, and a rerun resumes."""
    recipe = many_shards_recipe(tmp_path, count=200)
    reference = reference_build(recipe, tmp_path)
    out = tmp_path / "out"
    proc = _launch_two(recipe, out)
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=60)
    assert alive == [], "orphaned workers kept building"
    assert not (out / "manifest.json").exists() and not list(out.rglob("*.partial"))
    assert_resumes_to(recipe, out, reference)


def _launch_two(recipe: Path, out: Path) -> subprocess.Popen:
    """A two-process accelerate build, returned once two shards are done (still running)."""
    proc = subprocess.Popen(accelerate_launch("-m", "anomset", "build", str(recipe), "--out", str(out),
                                              "--no-progress"),
                            env=build_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_done_shards(proc, out, 2)
    return proc


def test_a_second_build_into_a_busy_folder_is_refused(tmp_path: Path, tiny_recipe_path: Path) -> None:
    from anomset.build.state import OutputState

    out = tmp_path / "out"
    with OutputState(out).exclusive():  # as if another build were running
        with pytest.raises(OutputError, match="another anomset build is writing into this folder"):
            build_dataset(load_recipe(tiny_recipe_path), out, progress=False)
        # refused before anything was written: the folder holds only the running build's lock
        assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [".anomset", ".anomset/lock"]
    result = build_dataset(load_recipe(tiny_recipe_path), out, progress=False)
    assert result.action == "new" and result.manifest is not None
