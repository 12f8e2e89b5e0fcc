"""Throughput of ``anomset build`` on the toy recipe against PNG-encoding the same pairs into a tar.

Prints pairs/s of (1) a one-process build, (2) a two-process build (accelerate launch), (3) only
encoding the built arrays to PNG and writing them to a tar, in the same run, and the ratios:
build/encode (target >= 0.6) and two/one processes (target >= 1.8).

    python benchmarks/build_throughput.py [--recipe recipes/toy.yaml] [--skip-multi]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomset.build.shards import IMAGE_MEMBER, MASK_MEMBER, encode_png, write_tar  # noqa: E402
from anomset.shard_reader import decode_image, decode_mask, iter_built  # noqa: E402


def timed_build(recipe: Path, out: Path, processes: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    build = ["-m", "anomset", "build", str(recipe), "--out", str(out), "--no-progress"]
    if processes == 1:
        command = [sys.executable, *build]
    else:
        launcher = str(Path(sys.executable).with_name("accelerate"))
        command = [launcher, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0", *build]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "toy.yaml")
    parser.add_argument("--skip-multi", action="store_true", help="skip the two-process build")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one = timed_build(args.recipe, folder / "one", 1)
        pairs = decoded_pairs(folder / "one")
        encode = timed_encode(pairs, folder)
        n = len(pairs)
        rows = [("build, 1 process", n / one), ("PNG encode + tar only", n / encode)]
        two = None
        if not args.skip_multi:
            two = timed_build(args.recipe, folder / "two", 2)
            rows.insert(1, ("build, 2 processes", n / two))
        size = pairs[0][1].shape[:2]
        print(f"{n} pairs at {size[0]}x{size[1]} from {args.recipe.name}")
        for label, rate in rows:
            print(f"  {label:<24} {rate:8.1f} pairs/s")
        print(f"  ratio build/encode       {encode / one:8.2f}   (target >= 0.6)")
        if two is not None:
            print(f"  ratio 2 procs / 1 proc   {one / two:8.2f}   (target >= 1.8)")


if __name__ == "__main__":
    main()
