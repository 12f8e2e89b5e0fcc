"""Concept learning steps/s on a GPU (the Stable Diffusion 1.5 inpainting architecture), and GPU-hours per class.

The SD-1.5 inpainting architecture is built from its config with random weights (``_sd15.py``; no
download) and loaded through anomset's loader (``load_frozen``). One class of ``--defects`` shown
defects (random 512² images with elliptical masks, three types, three clusters) learns its ``gaa``
concepts (8 feature tokens per cluster + the position encoder) and its ``anogen`` embeddings with
``learn_class``, the code ``anomset learn`` runs, at the schedule of ``--recipe``'s ``concepts.learn``
(steps, batch, resolution, lr; mixed precision from ``--mixed-precision``). ``--steps`` steps are timed
after ``--warmup`` steps; the projection is schedule steps / measured steps/s.

Target: gaa learning for one class <= 1 GPU-hour at the recipe's schedule (GAA reports about 3 days
for 15 MVTec classes on an RTX 3090, about 4.8 hours a class).

    python benchmarks/concept_learning_gpu.py [--recipe recipes/mvtec_ad_gaa.yaml] [--steps 20] [--mixed-precision bf16]
    python benchmarks/concept_learning_gpu.py --tiny --device cpu --mixed-precision no   # the script itself, on a CPU
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_HOURS = 1.0
GAA_3090_HOURS_PER_CLASS = 3 * 24 / 15


def shown_defects(count: int, size: int, seed: int = 0) -> list:
    """``count`` random defect images with one ellipse mask each, of three types."""
    from anomset.context import ShownDefect

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        center = tuple(int(c) for c in rng.integers(size // 4, 3 * size // 4, 2))
        axes = tuple(int(a) for a in rng.integers(size // 32, size // 8, 2))
        cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        out.append(ShownDefect(f"bench/{i:03d}", ("crack", "scratch", "stain")[i % 3], image, mask))
    return out


def concept_class(folder: Path, defects: list):
    """The benchmark class with its clusters saved (one cluster per defect type), as ``anomset cluster`` would."""
    from anomset.concepts.classes import ConceptClass
    from anomset.concepts.store import save_clusters

    folder.mkdir(parents=True, exist_ok=True)
    types = sorted({d.defect_type for d in defects})
    save_clusters(folder, "bench", "benchmark", defects, [types.index(d.defect_type) for d in defects], 0.25, {})
    return ConceptClass("bench", defects, folder, "benchmark", ["gaa", "anogen"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=ROOT / "recipes" / "mvtec_ad_gaa.yaml",
                        help="its concepts.learn is the schedule measured")
    parser.add_argument("--steps", type=int, default=20, help="steps timed per method")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--defects", type=int, default=12, help="shown defects of the class (a third of MVTec's)")
    parser.add_argument("--mixed-precision", default="bf16", choices=("no", "bf16", "fp16"))
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--resolution", type=int, default=None, help="override the schedule's (CPU checks)")
    parser.add_argument("--batch", type=int, default=None, help="override the schedule's batch_size (CPU checks)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", type=Path, default=None,
                        help="a saved SD-1.5 folder (python benchmarks/_sd15.py FOLDER) instead of building one")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny pipeline at 32² (a CPU check)")
    args = parser.parse_args()

    import torch

    from anomset.concepts.frozen import DTYPES, load_frozen
    from anomset.concepts.learn import learn_class
    from anomset.concepts.spec import ConceptsSpec

    cuda = args.device.startswith("cuda")
    if not cuda:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    schedule = yaml.safe_load(args.recipe.read_text())["concepts"]["learn"]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.tiny:
            from tests.concepts.tiny_pipeline import build_tiny_inpaint

            folder = build_tiny_inpaint(Path(tmp) / "tiny")
            schedule.update(resolution=32, mask_size=32, batch_size=2)
        elif args.model is not None:
            folder = args.model
        else:
            from _sd15 import sd15_inpaint  # benchmarks/ is on the path when run as a script

            folder = sd15_inpaint(Path(tmp), {"no": "float32", "bf16": "bfloat16", "fp16": "float16"}[
                args.mixed_precision])
        built = time.perf_counter() - started
        schedule.update({k: v for k, v in (("resolution", args.resolution), ("batch_size", args.batch)) if v})
        if args.batch:
            schedule.pop("micro_batch", None)
        learn = {**schedule, "mixed_precision": args.mixed_precision,
                 "gradient_checkpointing": args.gradient_checkpointing, "save_every": 10**6}
        spec = ConceptsSpec(dir=tmp, model=str(folder), learn=learn)
        device = torch.device(args.device)
        frozen = load_frozen(spec, device, DTYPES[args.mixed_precision])
        if frozen.tokenizer.model_max_length < 77 and not args.tiny:
            raise SystemExit("the benchmark pipeline should have SD's 77 text positions")
        klass = concept_class(Path(tmp) / "bench", shown_defects(args.defects, spec.learn.resolution))
        rates, memory = {}, {}
        for method in ("gaa", "anogen"):
            learn_class(klass, spec, method, frozen, "benchmark", stop_after=args.warmup)
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
            timed = learn_class(klass, spec, method, frozen, "benchmark", stop_after=args.steps)
            rates[method] = timed.steps_done / timed.seconds
            memory[method] = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    learned = spec.learn
    print(f"{'tiny pipeline' if args.tiny else 'SD-1.5 inpainting architecture (random weights)'} on {name}, "
          f"mixed precision {args.mixed_precision}, gradient checkpointing {args.gradient_checkpointing}; "
          f"{args.defects} shown defects, 3 clusters")
    print(f"schedule ({args.recipe.name}): {learned.steps} steps, batch {learned.batch_size}, "
          f"{learned.resolution}x{learned.resolution}; built + saved {built:.1f} s")
    for method, rate in rates.items():
        hours = learned.steps / rate / 3600
        print(f"{method}: {rate:.2f} steps/s ({rate * learned.batch_size:.1f} samples/s), peak memory "
              f"{memory[method]:.1f} GiB; {learned.steps} steps = {hours:.3f} GPU-hours a class")
    gaa_hours = learned.steps / rates["gaa"] / 3600
    total = sum(learned.steps / r / 3600 for r in rates.values())
    verdict = "a CPU check, no target" if not cuda else "ok" if gaa_hours <= TARGET_HOURS else "over"
    print(f"gaa: {gaa_hours:.3f} GPU-hours a class ({verdict}; target {TARGET_HOURS:g}; GAA's paper: about "
          f"{GAA_3090_HOURS_PER_CLASS:.1f} h on an RTX 3090); gaa + anogen "
          f"for the 15 MVTec AD classes: {15 * total:.1f} GPU-hours")


if __name__ == "__main__":
    main()
