"""``anomset build --processes N``: same bytes as one process, failures and signals end every rank cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from click.testing import CliRunner

from anomset.build.launch import run_build
from anomset.build.local_launch import available_cores
from anomset.cli import main
from anomset.errors import SynthesisError
from anomset.recipe import load_recipe
from tests.conftest import tiny_recipe, write_recipe
from tests.helpers import tree_digest

ROOT = Path(__file__).parents[2]


def _build(recipe: Path, out: Path, *flags: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "anomset", "build", str(recipe), "--out", str(out), "--no-progress",
                             *flags], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _many_shards(tmp_path: Path, count: int) -> Path:
    recipe = tiny_recipe()
    recipe["output"]["shard_size"] = 2
    recipe["classes"]["brick"]["generate"][0]["count"] = count
    return write_recipe(tmp_path / "many.yaml", recipe)


def test_two_local_processes_match_one(tmp_path: Path, tiny_recipe_path: Path) -> None:
    run_build(load_recipe(tiny_recipe_path), tmp_path / "one", progress=False)
    stdout, stderr = _build(tiny_recipe_path, tmp_path / "two", "--processes", "2").communicate(timeout=300)
    assert "2 processes" in stdout, stderr
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "two")


def test_zero_means_one_process_per_core(tmp_path: Path, tiny_recipe_path: Path) -> None:
    proc = _build(tiny_recipe_path, tmp_path / "out", "--processes", "0")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    cores = available_cores()
    assert (f"{cores} processes" in stdout) if cores > 1 else ("processes" not in stdout)


def test_a_failing_rank_stops_the_build_with_its_own_error(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    recipe["output"]["shard_size"] = 3
    # washer comes last in the plan, so the second rank meets the invisible anomaly.
    recipe["classes"]["washer"]["generate"][0].update(params={"opacity": [0.0, 0.0]}, max_redraws=2)
    path = write_recipe(tmp_path / "r.yaml", recipe)
    out = tmp_path / "out"
    proc = _build(path, out, "--processes", "2")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == SynthesisError.exit_code
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert any("classes.washer.generate[0]: draem made no visible anomaly" in line for line in errors), stderr
    assert "Traceback" not in stderr
    assert not list(out.rglob("*.partial")) and not (out / "manifest.json").exists()


def test_sigterm_to_the_launcher_stops_every_rank_and_a_rerun_resumes(tmp_path: Path) -> None:
    recipe = _many_shards(tmp_path, count=200)
    reference = tmp_path / "reference"
    run_build(load_recipe(recipe), reference, progress=False)
    out = tmp_path / "out"
    proc = _build(recipe, out, "--processes", "2")
    done = out / ".anomset" / "done"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (done.exists() and len(list(done.rglob("*.json"))) >= 2):
        time.sleep(0.005)
    ranks = psutil.Process(proc.pid).children()
    assert len(ranks) == 2 and proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM; rerun the same command to resume" in stderr and "Traceback" not in stderr
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in ranks)
    assert not list(out.rglob("*.partial")) and not (out / "manifest.json").exists()
    result = run_build(load_recipe(recipe), out, progress=False)
    assert result.action == "resume" and 0 < result.shards_written < result.shards_total
    assert tree_digest(out) == tree_digest(reference)


def test_processes_is_refused_under_another_launcher(tmp_path: Path, tiny_recipe_path: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(tiny_recipe_path), "--out", str(tmp_path / "out"),
                                       "--processes", "2"], env={"WORLD_SIZE": "2"})
    assert result.exit_code == 1
    assert result.output.strip() == ("error: --processes cannot be combined with accelerate launch or torchrun "
                                     "(fix: drop --processes: the launcher already starts the processes)")
    assert not (tmp_path / "out").exists()
