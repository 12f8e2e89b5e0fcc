"""diffusion_text through anomset against the bare diffusers inpainting call on the same inputs, same run.

Builds the tests' tiny random Stable Diffusion inpainting pipeline from configs (no download), saves it
and loads it back through anomset's loader (``from_pretrained``), then times, round by round in
alternating order: (1) the bare ``pipe(prompt=..., image=..., mask_image=..., generator=...)`` call on
inputs already converted to PIL at the working size, (2) ``DiffusionText.apply_batch`` on the uint8
images and masks: seeds drawn from each sample's rng, prompt choice, resize and PIL conversion, the
same pipeline call, uint8 conversion, paste back inside the mask, recorded params. Both use the same
seeds, so the pasted pixels are checked to be equal. Prints images/s and the ratio anomset/bare
(target >= 0.9), median over rounds. One thread, CPU, about a minute.

    python benchmarks/diffusion_overhead.py [--size 64] [--steps 4] [--batch 4] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPT = "a scratch on metal"
TARGET = 0.9


def inputs(count: int, size: int, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Smooth random RGB images and elliptical masks of about 1/20 of the image."""
    import cv2

    images, masks = [], []
    for _ in range(count):
        small = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8)
        images.append(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC))
        mask = np.zeros((size, size), np.uint8)
        centre = tuple(int(c) for c in rng.integers(size // 4, 3 * size // 4, 2))
        cv2.ellipse(mask, centre, (size // 6, size // 10), float(rng.uniform(0, 180)), 0, 360, 255, -1)
        masks.append(mask)
    return images, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="image side (the tiny UNet's native 64)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import torch

    from anomset.context import ImagePool, SampleContext
    from anomset.diffusion.inpaint import draw_seed, generators, pipeline_inputs, working_size
    from anomset.synth.diffusion_text import DiffusionText
    from tests.diffusion.tiny_pipeline import tiny_inpaint_pipeline

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = tiny_inpaint_pipeline(Path(tmp) / "tiny")
        images, masks = inputs(args.batch, args.size, np.random.default_rng(0))
        contexts = [SampleContext.whole_image((args.size, args.size)) for _ in images]
        synth = DiffusionText(model=str(folder), steps=args.steps, prompt=PROMPT, batch_size=args.batch)
        synth.setup(ImagePool(images), "cpu")
        pipe = synth.model.pipe
        size = working_size((args.size, args.size), None, pipe.vae_scale_factor)
        pil_images, pil_masks = pipeline_inputs(images, masks, size)

        def rngs(round_index: int) -> list[np.random.Generator]:
            return [np.random.default_rng([round_index, i]) for i in range(len(images))]

        def bare(round_index: int) -> np.ndarray:
            seeds = [draw_seed(rng) for rng in rngs(round_index)]
            with torch.inference_mode():
                return pipe(prompt=[PROMPT] * len(images), image=pil_images, mask_image=pil_masks, height=size[0],
                            width=size[1], num_inference_steps=args.steps, guidance_scale=7.5, strength=1.0,
                            generator=generators(seeds), output_type="np").images

        def through_anomset(round_index: int) -> list:
            return synth.apply_batch(images, masks, contexts, rngs(round_index))

        bare(0)
        through_anomset(0)  # warm both paths
        ours = through_anomset(1)
        theirs = np.clip(np.rint(bare(1) * 255.0), 0, 255).astype(np.uint8)
        for result, made, mask in zip(ours, theirs, masks, strict=True):
            assert np.array_equal(result.image[mask > 0], made[mask > 0]), "anomset and the bare call differ"
        bare_rates, our_rates, ratios = [], [], []
        for round_index in range(args.rounds):
            timings = {}
            order = [("bare", bare), ("anomset", through_anomset)]
            for name, run in order if round_index % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                run(round_index + 2)
                timings[name] = time.perf_counter() - start
            bare_rates.append(len(images) / timings["bare"])
            our_rates.append(len(images) / timings["anomset"])
            ratios.append(our_rates[-1] / bare_rates[-1])
        synth.teardown()
    ratio = statistics.median(ratios)
    print(f"tiny SD inpainting, {args.size}x{args.size}, {args.steps} steps, batch {args.batch}, "
          f"{args.rounds} rounds, 1 thread")
    print(f"bare diffusers call : {statistics.median(bare_rates):7.2f} images/s")
    print(f"anomset apply_batch : {statistics.median(our_rates):7.2f} images/s")
    print(f"ratio anomset/bare  : {ratio:7.3f}  ({'ok' if ratio >= TARGET else 'SLOW'} >= {TARGET})")


if __name__ == "__main__":
    main()
