"""ARS scoring throughput against the backbone's bare forward pass on the same batch, in the same run.

Builds a random ResNet from a config (no download), saves it with ``save_pretrained`` and loads it
back through the real loader, fits ARS on a few random-texture normals, then times, round by round
in alternating order: (1) the bare network call on an already prepared batch (the truncated network
ARS runs: blocks after the deepest chosen layer are cut), (2) ``Ars.score_batch`` on the same images
as candidates with masks: resize + normalise, forward, local average, grid resize, adaptor,
discriminator on the cells the masks cover, and the weighted mean that equals the upsampled map's
mean inside each mask. Masks are squares of 1/16 of the image, like defects; the same batch with
whole-image masks (every patch scored) is timed too, as the worst case. Prints pairs/s and the
ratio ARS/bare (target >= 0.8), median over rounds. One thread, CPU, under a minute.

Then the build slowdown: the toy source, ``--build-count`` CutPaste and DRAEM anomalies per class at
``--size``, built three ways in the same run, alternating order over rounds: no filter, ARS with
``min_score`` (every sample scored once: the bare scoring cost) and ARS with ``keep_top 0.5`` (twice
the candidates rendered and scored). The ARS fit (once per class) is timed on its own and left out of
the ratios: its builds load the fit saved in the first round's state (``--fit-steps``). Ratios are the
filtered build's wall time over the unfiltered one's, median over rounds.

    python benchmarks/quality_throughput.py [--widths 64,128,256,512] [--depths 2,2,2,2] [--size 256]
                                            [--batch 16] [--rounds 4] [--hidden 1024]
                                            [--build-count 32] [--build-rounds 2] [--fit-steps 100] [--skip-build]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import build_resnet  # noqa: E402  (benchmarks/ is on the path when run as a script)


def textures(count: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Smooth random RGB textures: stand-ins for normals with some structure for the fit."""
    import cv2

    out = []
    for _ in range(count):
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        out.append(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="64,128,256,512", help="ResNet stage widths (ResNet-18's by default)")
    parser.add_argument("--depths", default="2,2,2,2", help="blocks per stage")
    parser.add_argument("--size", type=int, default=256, help="image and backbone input side")
    parser.add_argument("--batch", type=int, default=16, help="pairs per scoring call")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=1024, help="discriminator width (ARS's default)")
    parser.add_argument("--build-count", type=int, default=32, help="anomalies per entry and class in the build")
    parser.add_argument("--build-rounds", type=int, default=2)
    parser.add_argument("--fit-steps", type=int, default=100, help="ARS optimiser steps in the build's fit")
    parser.add_argument("--skip-build", action="store_true", help="only the scoring throughput")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from anomset.context import ImagePool
    from anomset.quality.ars import Ars

    widths = [int(w) for w in args.widths.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_resnet(Path(tmp) / "resnet", widths, depths)
        ars = Ars(backbone=str(folder), image_size=args.size, steps=20, patches_per_step=256, hidden=args.hidden,
                  device="cpu", batch_size=args.batch)
        ars.fit(ImagePool(textures(4, args.size, rng)))
        scoring_throughput(ars, args, rng)
        if not args.skip_build:
            build_slowdown(Path(tmp), folder, args)


def scoring_throughput(ars: Any, args: argparse.Namespace, rng: np.random.Generator) -> None:
    """ARS ``score_batch`` pairs/s against the bare forward pass on the same batch."""
    import torch

    from anomset.quality.base import Candidate

    images = textures(args.batch, args.size, rng)
    masks = []
    for _ in images:
        mask = np.zeros((args.size, args.size), np.uint8)
        top, left = rng.integers(0, args.size // 2, 2)
        mask[top:top + args.size // 4, left:left + args.size // 4] = 255
        masks.append(mask)
    candidates = [Candidate("bench", image, image, mask) for image, mask in zip(images, masks, strict=True)]
    backbone = ars.backbone
    pixel_values = backbone.preprocess(images)

    def bare() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            backbone.forward(pixel_values)
        return time.perf_counter() - start

    whole = [Candidate("bench", image, image, np.full(image.shape[:2], 255, np.uint8)) for image in images]

    def scoring() -> float:
        start = time.perf_counter()
        ars.score_batch(candidates)
        return time.perf_counter() - start

    def whole_masks() -> float:
        start = time.perf_counter()
        ars.score_batch(whole)
        return time.perf_counter() - start

    bare(), scoring(), whole_masks()  # warm-up: first calls allocate
    ratios, whole_ratios, bare_rates, ars_rates = [], [], [], []
    for round_index in range(args.rounds):
        order = (bare, scoring, whole_masks) if round_index % 2 == 0 else (whole_masks, scoring, bare)
        times = {fn.__name__: fn() for fn in order}
        bare_rates.append(args.batch / times["bare"])
        ars_rates.append(args.batch / times["scoring"])
        ratios.append(times["bare"] / times["scoring"])
        whole_ratios.append(times["bare"] / times["whole_masks"])
    print(f"backbone: random ResNet widths [{args.widths}] depths [{args.depths}], layers {ars.params.layers}, "
          f"input {args.size}², batch {args.batch}, discriminator width {args.hidden}, 1 thread")
    print(f"bare forward  {statistics.median(bare_rates):8.1f} pairs/s")
    print(f"ARS scoring   {statistics.median(ars_rates):8.1f} pairs/s")
    print(f"ratio ARS/bare {statistics.median(ratios):.2f} (target >= 0.8; median of {args.rounds} rounds; "
          f"masks of {100 / 16:.1f}% of the image)")
    print(f"worst case, every mask the whole image: ratio {statistics.median(whole_ratios):.2f} "
          "(the discriminator then scores every patch)")


def toy_recipe(size: int, count: int, quality: dict | None) -> dict:
    """Two toy classes, CutPaste and DRAEM entries of ``count`` each, optionally under one ARS rule."""
    classes = {}
    for name in ("brick", "washer"):
        entries = [{"synthesizer": "cutpaste", "count": count}, {"synthesizer": "draem", "count": count}]
        plan: dict = {"normals": {"train": 8, "test": 0}, "real_defects": {"train": 0, "test": 0}, "generate": entries}
        if quality is not None:
            plan["quality"] = quality
        classes[name] = plan
    return {"name": "bench", "license": "cc-by-4.0", "seed": 0,
            "source": {"type": "toy", "params": {"image_size": size, "train_normals": 16, "test_normals": 2,
                                                 "defects_per_type": 1, "classes": ["brick", "washer"]}},
            "output": {"image_size": size, "shard_size": 16}, "classes": classes}


def build_slowdown(tmp: Path, backbone: Path, args: argparse.Namespace) -> None:
    """Wall time of a build with the ARS filter over the same build without it (fit excluded, timed apart)."""
    import shutil

    from anomset.recipe import load_recipe
    from anomset.workflow import build_dataset

    params = {"backbone": str(backbone), "image_size": args.size, "steps": args.fit_steps, "hidden": args.hidden,
              "device": "cpu", "batch_size": args.batch}
    kinds = {"none": None, "min_score": {"filter": "ars", "min_score": -10.0, "params": params},
             "keep_top 0.5": {"filter": "ars", "keep_top": 0.5, "params": params}}
    recipes = {}
    for kind, quality in kinds.items():
        path = tmp / f"{kind.replace(' ', '_')}.yaml"
        path.write_text(yaml.safe_dump(toy_recipe(args.size, args.build_count, quality)))
        recipes[kind] = load_recipe(path)
    # Fit once (timed), keep the state folder; every timed filtered build starts from a copy of it.
    fitted = {}
    for kind in ("min_score", "keep_top 0.5"):
        out = tmp / f"fit-{kind.replace(' ', '_')}"
        start = time.perf_counter()
        build_dataset(recipes[kind], out, progress=False)
        fitted[kind] = (out / ".anomset" / "quality", time.perf_counter() - start)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    walls: dict[str, list[float]] = {k: [] for k in kinds}
    for round_index in range(args.build_rounds):
        order = list(kinds) if round_index % 2 == 0 else list(reversed(kinds))
        for kind in order:
            out = tmp / f"build-{round_index}-{kind.replace(' ', '_')}"
            if kind in fitted:  # the fit is loaded, not redone: only the per-sample cost is timed
                shutil.copytree(fitted[kind][0], out / ".anomset" / "quality")
            start = time.perf_counter()
            result = build_dataset(recipes[kind], out, progress=False)
            walls[kind].append(time.perf_counter() - start)
            times[kind].append(result.render_seconds)
            shutil.rmtree(out)
    samples = 2 * (8 + 2 * args.build_count)
    base, base_wall = statistics.median(times["none"]), statistics.median(walls["none"])
    print(f"build: toy, 2 classes, {samples} samples at {args.size}², {2 * args.build_count} anomalies a class, "
          f"1 process; rendering phase and whole build (card included), median of {args.build_rounds} rounds")
    print(f"  no filter       {base:7.2f} s rendering, {base_wall:7.2f} s whole")
    for kind in ("min_score", "keep_top 0.5"):
        value, wall = statistics.median(times[kind]), statistics.median(walls[kind])
        print(f"  ARS {kind:<12}{value:7.2f} s rendering, {wall:7.2f} s whole   slowdown x{value / base:.2f} "
              f"rendering, x{wall / base_wall:.2f} whole")
    print(f"  ARS fit + first build (2 classes, {args.fit_steps} steps): "
          f"{fitted['keep_top 0.5'][1]:.1f} s (keep_top), {fitted['min_score'][1]:.1f} s (min_score)")


if __name__ == "__main__":
    main()
