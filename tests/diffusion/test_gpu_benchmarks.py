"""The GPU benchmark scripts of issue 15 run end to end on the CPU with the tiny pipelines (so they cannot rot)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.helpers import ROOT


def run_script(name: str, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_diffusion_gpu_measures_generation_against_a_flop_bound() -> None:
    out = run_script("diffusion_gpu.py", "--tiny", "--device", "cpu", "--dtype", "bfloat16", "--size", "64",
                     "--steps", "2", "--batch", "2", "--rounds", "1", "--peak-tflops", "1")
    flops = re.search(r"UNet ([\d.]+) GFLOP/step", out)
    rate = re.search(r"generation through anomset: ([\d.]+) images/s", out)
    share = re.search(r"images/s; share ([\d.]+)", out)
    assert flops and float(flops.group(1)) > 0 and rate and float(rate.group(1)) > 0 and share


def test_concept_learning_gpu_projects_hours_per_class_for_both_methods() -> None:
    out = run_script("concept_learning_gpu.py", "--tiny", "--device", "cpu", "--mixed-precision", "no",
                     "--steps", "2", "--warmup", "1", "--defects", "3")
    rates = dict(re.findall(r"^(gaa|anogen): ([\d.]+) steps/s", out, flags=re.M))
    assert set(rates) == {"gaa", "anogen"} and all(float(r) > 0 for r in rates.values())
    assert "3000 steps" in out  # the schedule is recipes/mvtec_ad_gaa.yaml's
