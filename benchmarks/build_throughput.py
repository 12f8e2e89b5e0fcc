"""Throughput of ``anomset build`` on the toy recipe against PNG-encoding the same pairs into a tar.

Prints pairs/s of (1) a one-process build, (2) two-process builds, started by ``anomset build
--processes 2`` and by ``accelerate launch``, (3) only encoding the built arrays to PNG and writing
them to a tar, in the same run, and the ratios: build/encode (target >= 0.6) and two/one processes
(target >= 1.8). Every two-process build is checked to give the one-process bytes. Builds are timed as whole
commands, start-up included, and by the parallel rendering phase the build reports. ``--scale``
multiplies every generation count of the recipe (the source stays the same), as real builds make
many anomalies per normal image.

Builds alternate (1, 2, 1, 2 processes...) and the best of each is reported, because the shared
machine's noise only ever adds time.

    python benchmarks/build_throughput.py [--recipe recipes/toy.yaml] [--scale 8] [--repeat 2] [--skip-multi]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomset.build.shards import IMAGE_MEMBER, MASK_MEMBER, encode_png, write_tar  # noqa: E402
from anomset.shard_reader import decode_image, decode_mask, iter_built  # noqa: E402

LAUNCHERS = ("local", "accelerate")  # --processes 2, accelerate launch --num_processes 2


def timed_build(recipe: Path, out: Path, launcher: str | None) -> tuple[float, float]:
    """(whole command seconds, seconds of the parallel rendering phase as the build reports it).

    ``launcher`` None builds in one process; otherwise two processes started by that launcher.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    build = ["-m", "anomset", "build", str(recipe), "--out", str(out), "--no-progress"]
    if launcher is None:
        command = [sys.executable, *build]
    elif launcher == "local":
        command = [sys.executable, *build, "--processes", "2"]
    else:
        accelerate = str(Path(sys.executable).with_name("accelerate"))
        command = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0", *build]
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    whole = time.perf_counter() - start
    rendering = re.search(r"rendering took ([0-9.]+) s", done.stdout)
    return whole, float(rendering.group(1)) if rendering else float("nan")


def scaled_recipe(recipe: Path, scale: int, folder: Path) -> Path:
    """The recipe with every generation count multiplied by ``scale`` (YAML anchors resolved)."""
    # A JSON round trip unshares YAML anchors, so an aliased plan is scaled once, not once per alias.
    data = json.loads(json.dumps(yaml.safe_load(recipe.read_text())))
    for plan in data["classes"].values():
        for entry in plan.get("generate", []):
            entry["count"] *= scale
    out = folder / f"{recipe.stem}-x{scale}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def decoded_pairs(out: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    return [(key, decode_image(members, shard, key), decode_mask(members, shard, key))
            for shard, key, members in iter_built(out, suffixes=(IMAGE_MEMBER, MASK_MEMBER))]


def timed_encode(pairs: list[tuple[str, np.ndarray, np.ndarray]], folder: Path) -> float:
    cv2.setNumThreads(1)
    start = time.perf_counter()
    members = ((key, {"image.png": encode_png(image, 1), "mask.png": encode_png(mask, 1)})
               for key, image, mask in pairs)
    write_tar(folder / "encode-only.tar", members)
    return time.perf_counter() - start


def best_of(runs: list[tuple[float, float]]) -> tuple[float, float]:
    """The fastest whole command and the fastest rendering phase: the machine's noise only ever adds time."""
    return min(r[0] for r in runs), min(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "toy.yaml")
    parser.add_argument("--scale", type=int, default=8, help="multiply generation counts (default 8)")
    parser.add_argument("--repeat", type=int, default=2, help="alternate 1- and 2-process builds this often; "
                        "report the best of each (default 2)")
    parser.add_argument("--skip-multi", action="store_true", help="skip the two-process build")
    args = parser.parse_args()
    launchers = () if args.skip_multi else LAUNCHERS
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = scaled_recipe(args.recipe, args.scale, folder)
        ones: list[tuple[float, float]] = []
        twos: dict[str, list[tuple[float, float]]] = {name: [] for name in launchers}
        for attempt in range(args.repeat):
            ones.append(timed_build(recipe, folder / f"one{attempt}", None))
            reference = (folder / f"one{attempt}" / "manifest.json").read_bytes()
            for name in launchers:
                twos[name].append(timed_build(recipe, folder / name, name))
                assert (folder / name / "manifest.json").read_bytes() == reference, f"{name}: different bytes"
                shutil.rmtree(folder / name)
            if attempt:
                shutil.rmtree(folder / f"one{attempt}")
        one, one_render = best_of(ones)
        pairs = decoded_pairs(folder / "one0")
        encode = timed_encode(pairs, folder)
        n = len(pairs)
        size = pairs[0][1].shape[:2]
        print(f"{n} pairs at {size[0]}x{size[1]} from {args.recipe.name} with generation counts x{args.scale}, "
              f"best of {args.repeat}")
        print(f"  PNG encode + tar only           {n / encode:8.1f} pairs/s")
        print(f"  build, 1 process                {n / one:8.1f} pairs/s  (rendering phase {n / one_render:.1f}; "
              f"start-up, manifest and card {one - one_render:.1f} s)")
        print(f"  ratio build/encode              {encode / one:8.2f}   (target >= 0.6)")
        for name, runs in twos.items():
            two, two_render = best_of(runs)
            title = "--processes 2" if name == "local" else "accelerate launch, 2"
            print(f"  build, {title:<24} {n / two:8.1f} pairs/s  (rendering phase {n / two_render:.1f}; "
                  f"the rest {two - two_render:.1f} s)")
            print(f"    ratio to 1 process, command   {one / two:8.2f}   (target >= 1.8)")
            print(f"    ratio to 1 process, rendering {one_render / two_render:8.2f}")

if __name__ == "__main__":
    main()
