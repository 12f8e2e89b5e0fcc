"""``anomset build --processes N``: same bytes as one process, failures and signals end every rank cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil
from click.testing import CliRunner

from anomset.build.local_launch import available_cores
from anomset.cli import main
from anomset.errors import SynthesisError
from anomset.recipe import load_recipe
from anomset.workflow import build_dataset
from tests.conftest import invisible_washer_recipe, many_shards_recipe, write_recipe
from tests.helpers import assert_resumes_to, build_env, reference_build, tree_digest, wait_for_done_shards


def _build(recipe: Path, out: Path, *flags: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "anomset", "build", str(recipe), "--out", str(out), "--no-progress",
                             *flags], env=build_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_local_processes_match_one(tmp_path: Path, tiny_recipe_path: Path) -> None:
    build_dataset(load_recipe(tiny_recipe_path), tmp_path / "one", progress=False)
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
    # washer comes last in the plan, so the second rank meets the invisible anomaly.
    path = write_recipe(tmp_path / "r.yaml", invisible_washer_recipe())
    out = tmp_path / "out"
    proc = _build(path, out, "--processes", "2")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == SynthesisError.exit_code
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert any("classes.washer.generate[0]: draem made no visible anomaly" in line for line in errors), stderr
    assert "Traceback" not in stderr
    assert not list(out.rglob("*.partial")) and not (out / "manifest.json").exists()


def test_sigterm_to_the_launcher_stops_every_rank_and_a_rerun_resumes(tmp_path: Path) -> None:
    recipe = many_shards_recipe(tmp_path, count=200)
    reference = reference_build(recipe, tmp_path)
    out = tmp_path / "out"
    proc = _build(recipe, out, "--processes", "2")
    wait_for_done_shards(proc, out, 2)
    ranks = psutil.Process(proc.pid).children()
    assert len(ranks) == 2 and proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM; rerun the same command to resume" in stderr and "Traceback" not in stderr
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in ranks)
    assert not list(out.rglob("*.partial")) and not (out / "manifest.json").exists()
    assert_resumes_to(recipe, out, reference)


def test_processes_is_refused_under_another_launcher(tmp_path: Path, tiny_recipe_path: Path) -> None:
    result = CliRunner().invoke(main, ["build", str(tiny_recipe_path), "--out", str(tmp_path / "out"),
                                       "--processes", "2"], env={"WORLD_SIZE": "2"})
    assert result.exit_code == 1
    assert result.output.strip() == ("error: --processes cannot be combined with accelerate launch or torchrun "
                                     "(fix: drop --processes: the launcher already starts the processes)")
    assert not (tmp_path / "out").exists()
