"""Throughput of ``anomset build`` on the toy recipe against PNG-encoding the same pairs into a tar.

Prints pairs/s of (1) a one-process build, (2) two-process builds, started by ``anomset build
--processes 2`` and by ``accelerate launch``, (3) only encoding the built arrays to PNG and writing
them to a tar, in the same run, and the ratios: build/encode (target >= 0.6) and two/one processes
(target >= 1.8). Every two-process build is checked to give the one-process bytes. Builds are timed as whole
commands, start-up included, and by the parallel rendering phase the build reports. ``--scale``
multiplies every generation count of the recipe (the source stays the same), as real builds make
many anomalies per normal image.

Shared machines drift by tens of percent over minutes, so each round runs one build of each kind
and the encoding back to back, in reversed order every other round (so a drift favours no kind),
ratios are taken within a round, and their medians are reported. Each round also times
``accelerate launch`` of a script that does nothing: the launcher's own fixed cost, which no
build can remove, printed beside the ratios so they can be read net of it.

A second case builds from large images, as real sources are: a ``folder`` class of generated 1024²
normals, 5 CutPaste pairs per normal at 256². Its floor is one decode + resize per source image plus
one encode per pair, timed in the same run; the build's pairs/s over the floor's is the ratio
(target >= 0.7). The same build with ``--cache-memory 0`` (every sample decodes its normal again)
shows what keeping decoded items is worth.

    python benchmarks/build_throughput.py [--recipe recipes/toy.yaml] [--scale 16] [--rounds 3] [--skip-multi]
                                          [--large-images 200] [--large-only]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomset.build.render import resize_image  # noqa: E402
from anomset.build.shards import write_tar  # noqa: E402
from anomset.dataset.contract import IMAGE_MEMBER, MASK_MEMBER  # noqa: E402
from anomset.dataset.files import encode_png  # noqa: E402
from anomset.dataset.reader import decode_image, decode_mask, iter_built  # noqa: E402
from anomset.sources.imageio import read_image  # noqa: E402

LAUNCHERS = ("local", "accelerate")  # --processes 2, accelerate launch --num_processes 2


def timed_build(recipe: Path, out: Path, launcher: str | None, *flags: str) -> tuple[float, float]:
    """(whole command seconds, seconds of the parallel rendering phase as the build reports it).

    ``launcher`` None builds in one process; otherwise two processes started by that launcher.
    """
    build = ["-m", "anomset", "build", str(recipe), "--out", str(out), "--no-progress", *flags]
    if launcher is None:
        command = [sys.executable, *build]
    elif launcher == "local":
        command = [sys.executable, *build, "--processes", "2"]
    else:
        command = [*accelerate_launch(2), *build]
    whole, stdout = timed(command)
    rendering = re.search(r"rendering took ([0-9.]+) s", stdout)
    return whole, float(rendering.group(1)) if rendering else float("nan")


def accelerate_launch(processes: int) -> list[str]:
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    return [accelerate, "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]


def timed(command: list[str]) -> tuple[float, str]:
    """(seconds, stdout) of ``command`` run to its end."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, done.stdout


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


LARGE_SIDE = 1024
PAIRS_PER_NORMAL = 5


def large_image_folder(root: Path, count: int) -> list[Path]:
    """``count`` generated 1024² normals of one object class (photo-like: smooth shading, fine grain)."""
    rng = np.random.default_rng(0)
    good = root / "part" / "good"
    good.mkdir(parents=True)
    yy, xx = np.mgrid[:LARGE_SIDE, :LARGE_SIDE].astype(np.float32) / LARGE_SIDE
    paths = []
    for index in range(count):
        shade = 90 + 60 * np.sin(6 * xx + index) * np.cos(4 * yy)
        disk = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.12).astype(np.float32) * 70
        channels = [cv2.GaussianBlur(shade + disk + rng.normal(0, 6, shade.shape).astype(np.float32), (0, 0), 1.2)
                    + 12 * c for c in range(3)]
        path = good / f"{index:04d}.png"
        cv2.imwrite(str(path), np.clip(cv2.merge(channels), 0, 255).astype(np.uint8))
        paths.append(path)
    return paths


def large_image_recipe(folder: Path, count: int) -> Path:
    recipe = {
        "name": "large", "seed": 0,
        "source": {"type": "folder", "params": {"root": str(folder / "large-source"), "test_fraction": 0.0}},
        "output": {"image_size": 256, "shard_size": 64},
        "classes": {"part": {"normals": {"train": 0, "test": 0}, "real_defects": {"train": 0, "test": 0},
                             "generate": [{"synthesizer": "cutpaste", "count": PAIRS_PER_NORMAL * count}]}},
    }
    path = folder / "large.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def timed_decode(paths: list[Path], size: tuple[int, int]) -> float:
    """Seconds to decode every source image once and resize it to the output size."""
    cv2.setNumThreads(1)
    start = time.perf_counter()
    for path in paths:
        resize_image(read_image(path), size)
    return time.perf_counter() - start


def large_image_case(folder: Path, count: int, rounds: int) -> None:
    """Builds from large images against their floor: one decode per image plus one encode per pair."""
    paths = large_image_folder(folder / "large-source", count)
    recipe = large_image_recipe(folder, count)
    timed_build(recipe, folder / "large-reference", None)
    pairs = decoded_pairs(folder / "large-reference")
    reference = (folder / "large-reference" / "manifest.json").read_bytes()
    floors, builds, uncached = [], [], []
    for index in range(rounds):
        steps = ["floor", "build", "uncached"]
        for step in steps if index % 2 == 0 else reversed(steps):
            if step == "floor":
                floors.append(timed_decode(paths, (256, 256)) + timed_encode(pairs, folder))
                continue
            out = folder / f"large-{step}"
            flags = ("--cache-memory", "0") if step == "uncached" else ()
            (builds if step == "build" else uncached).append(timed_build(recipe, out, None, *flags))
            assert (out / "manifest.json").read_bytes() == reference, f"{step}: other bytes than the reference"
            shutil.rmtree(out)
    n, median = len(pairs), statistics.median
    print(f"{n} pairs at 256x256 from {count} generated {LARGE_SIDE}x{LARGE_SIDE} normals "
          f"({PAIRS_PER_NORMAL} CutPaste pairs each); medians of {rounds} rounds")
    print(f"  floor: 1 decode per image + 1 encode per pair {n / median(floors):8.1f} pairs/s")
    for title, runs in (("build", builds), ("build, --cache-memory 0", uncached)):
        whole, render = median(r[0] for r in runs), median(r[1] for r in runs)
        print(f"  {title:<46}{n / whole:8.1f} pairs/s  (rendering phase {n / render:.1f})")
    command = [f / b[0] for f, b in zip(floors, builds, strict=True)]
    rendering = [f / b[1] for f, b in zip(floors, builds, strict=True)]
    print(f"  ratio build/floor, command                    {spread(command)}   (target >= 0.7)")
    print(f"  ratio build/floor, rendering                  {spread(rendering)}")
    print(f"  ratio build / build without the item cache    "
          f"{spread([u[0] / b[0] for u, b in zip(uncached, builds, strict=True)])}")


@dataclass
class Round:
    """One round of back-to-back measurements (seconds): the ratios are taken within a round."""

    encode: float
    one: tuple[float, float]  # (whole command, rendering phase)
    two: dict[str, tuple[float, float]]
    launcher: float  # accelerate launch, 2 processes, of a script that does nothing


def spread(values: list[float]) -> str:
    """``median (min-max)`` of per-round ratios."""
    ordered = sorted(values)
    median = statistics.median(ordered)
    return f"{median:5.2f}" + (f"  (rounds {ordered[0]:.2f}-{ordered[-1]:.2f})" if len(ordered) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "toy.yaml")
    parser.add_argument("--scale", type=int, default=16, help="multiply generation counts (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of back-to-back runs (default 3)")
    parser.add_argument("--skip-multi", action="store_true", help="skip the two-process builds")
    parser.add_argument("--large-images", type=int, default=200,
                        help="normals of the large-image case (default 200; 0 skips it)")
    parser.add_argument("--large-only", action="store_true", help="run only the large-image case")
    args = parser.parse_args()
    if args.large_images:
        with tempfile.TemporaryDirectory() as tmp:
            large_image_case(Path(tmp), args.large_images, args.rounds)
    if not args.large_only:
        toy_case(args)


def toy_case(args: argparse.Namespace) -> None:
    """The toy recipe: one process, two processes (both launchers), and encoding only."""
    launchers = () if args.skip_multi else LAUNCHERS
    rounds: list[Round] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        recipe = scaled_recipe(args.recipe, args.scale, folder)
        nothing = folder / "nothing.py"
        nothing.write_text("")
        timed_build(recipe, folder / "reference", None)  # warms caches and gives the bytes to match
        pairs = decoded_pairs(folder / "reference")
        reference = (folder / "reference" / "manifest.json").read_bytes()
        for index in range(args.rounds):
            times: dict[str, Any] = {}
            steps = ["one", "encode", *launchers, "launcher"]
            for step in steps if index % 2 == 0 else reversed(steps):
                if step == "encode":
                    times[step] = timed_encode(pairs, folder)
                elif step == "launcher":
                    times[step] = timed([*accelerate_launch(2), str(nothing)])[0] if launchers else float("nan")
                else:
                    times[step] = timed_build(recipe, folder / step, None if step == "one" else step)
                    same = (folder / step / "manifest.json").read_bytes() == reference
                    assert same, f"{step}: built different bytes from the reference one-process build"
                    shutil.rmtree(folder / step)
            rounds.append(Round(times["encode"], times["one"], {name: times[name] for name in launchers},
                                times["launcher"]))
    n = len(pairs)
    size = pairs[0][1].shape[:2]
    median = statistics.median
    print(f"{n} pairs at {size[0]}x{size[1]} from {args.recipe.name} with generation counts x{args.scale}; "
          f"medians of {args.rounds} rounds")
    print(f"  PNG encode + tar only           {n / median(r.encode for r in rounds):8.1f} pairs/s")
    one_whole = median(r.one[0] for r in rounds)
    one_render = median(r.one[1] for r in rounds)
    print(f"  build, 1 process                {n / one_whole:8.1f} pairs/s  (rendering phase {n / one_render:.1f}; "
          f"start-up, manifest and card {one_whole - one_render:.1f} s)")
    print(f"  ratio build/encode              {spread([r.encode / r.one[0] for r in rounds])}   (target >= 0.6)")
    for name in launchers:
        whole, render = median(r.two[name][0] for r in rounds), median(r.two[name][1] for r in rounds)
        title = "--processes 2" if name == "local" else "accelerate launch, 2"
        print(f"  build, {title:<24} {n / whole:8.1f} pairs/s  (rendering phase {n / render:.1f}; "
              f"the rest {whole - render:.1f} s)")
        print(f"    ratio to 1 process, command   {spread([r.one[0] / r.two[name][0] for r in rounds])}   "
              "(target >= 1.8)")
        print(f"    ratio to 1 process, rendering {spread([r.one[1] / r.two[name][1] for r in rounds])}")
        if name == "accelerate":
            print(f"    accelerate launch alone       {median(r.launcher for r in rounds):8.1f} s  "
                  "(2 processes of a script that does nothing)")
            print(f"    ratio to 1 process, command net of the launcher alone  "
                  f"{spread([r.one[0] / (r.two[name][0] - r.launcher) for r in rounds])}")


if __name__ == "__main__":
    main()
