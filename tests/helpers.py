"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

STATE_DIR = ".anomset"
ROOT = Path(__file__).parents[1]


def tree_digest(folder: Path, include_state: bool = False) -> dict[str, str]:
    """relative path → sha256 of every file under ``folder`` (resume markers excluded by default)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and (include_state or not rel.startswith(STATE_DIR)):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def build_env(**extra: str) -> dict[str, str]:
    """Environment for a build in a subprocess: this checkout importable, one thread per process."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


def accelerate_launch(*args: str) -> list[str]:
    """``accelerate launch`` of 2 CPU processes running ``args``; skips the test without the launcher."""
    launcher = Path(sys.executable).with_name("accelerate")
    if not launcher.exists():
        pytest.skip("accelerate launcher not installed next to this python")
    return [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0", *args]


def wait_for_done_shards(proc: subprocess.Popen, out: Path, count: int, timeout: float = 120) -> None:
    """Return once ``count`` shards of the build into ``out`` are marked done, with ``proc`` still running."""
    done = out / STATE_DIR / "done"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if done.exists() and len(list(done.rglob("*.json"))) >= count:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "build finished before it could be interrupted; make the recipe bigger"


def reference_build(recipe: Path, folder: Path) -> Path:
    """An uninterrupted one-process build of ``recipe`` into ``folder/reference``: the bytes to match."""
    from anomset.recipe import load_recipe
    from anomset.workflow import build_dataset

    build_dataset(load_recipe(recipe), folder / "reference", progress=False)
    return folder / "reference"


def assert_resumes_to(recipe: Path, out: Path, reference: Path) -> None:
    """A plain rerun finishes the interrupted build in ``out``, writing only what was missing, byte for byte."""
    from anomset.recipe import load_recipe
    from anomset.workflow import build_dataset

    result = build_dataset(load_recipe(recipe), out, progress=False)
    assert result.action == "resume" and 0 < result.shards_written < result.shards_total
    assert tree_digest(out) == tree_digest(reference)


def range_params(params_cls: type) -> list[tuple[str, tuple[float, float], Any]]:
    """``(field, default, domain)`` of every (low, high) pair field of a ``Params`` model.

    A pair field without a ``Domain`` (not built from ``anomset.ranges``) gets ``None``.
    """
    from typing import get_args, get_origin

    from anomset.ranges import domain_of

    found = []
    for field, info in params_cls.model_fields.items():
        args = get_args(info.annotation)
        if get_origin(info.annotation) is tuple and len(args) == 2 and set(args) <= {int, float}:
            found.append((field, info.default, domain_of(info.metadata)))
    return found


def assert_ranges_validated(cls: type) -> None:
    """Every pair param of ``cls`` is a validated range: reversed and out-of-domain bounds are refused."""
    from pydantic import ValidationError

    for field, default, domain in range_params(cls.Params):
        assert domain is not None, f"{cls.__name__}.{field} is a bare tuple, not an anomset.ranges type"
        if default[0] < default[1]:
            with pytest.raises(ValidationError, match="low <= high") as caught:
                cls(**{field: (default[1], default[0])})
            assert caught.value.errors()[0]["loc"][0] == field
        for value in domain.outside():
            pair = (value, default[1]) if domain.low is not None and value <= domain.low else (default[0], value)
            with pytest.raises(ValidationError, match=r"must lie in") as caught:
                cls(**{field: pair})
            assert caught.value.errors()[0]["loc"][0] == field, (field, pair)
        cls(**{field: default})


def failed_build_line(recipe: Path, out: Path) -> tuple[int, str]:
    """Exit code and output of an in-process ``anomset build`` expected to fail with one line, no traceback."""
    from click.testing import CliRunner

    from anomset.cli import main

    result = CliRunner().invoke(main, ["build", str(recipe), "--out", str(out), "--no-progress"])
    line = result.output.strip()
    assert "\n" not in line and "Traceback" not in line, result.output
    return result.exit_code, line
