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

    python benchmarks/quality_throughput.py [--widths 64,128,256,512] [--depths 2,2,2,2] [--size 256]
                                            [--batch 16] [--rounds 4] [--hidden 1024]
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


def build_resnet(folder: Path, widths: list[int], depths: list[int]) -> Path:
    import torch
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=widths[0], hidden_sizes=widths, depths=depths, layer_type="basic")
    ResNetModel(config).save_pretrained(folder)
    return folder


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
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from anomset.context import ImagePool
    from anomset.quality.ars import Ars
    from anomset.quality.base import Candidate

    widths = [int(w) for w in args.widths.split(",")]
    depths = [int(d) for d in args.depths.split(",")]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_resnet(Path(tmp) / "resnet", widths, depths)
        ars = Ars(backbone=str(folder), image_size=args.size, steps=20, patches_per_step=256, hidden=args.hidden,
                  device="cpu", batch_size=args.batch)
        ars.fit(ImagePool(textures(4, args.size, rng)))
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
    print(f"backbone: random ResNet widths {widths} depths {depths}, layers {ars.params.layers}, "
          f"input {args.size}², batch {args.batch}, discriminator width {args.hidden}, 1 thread")
    print(f"bare forward  {statistics.median(bare_rates):8.1f} pairs/s")
    print(f"ARS scoring   {statistics.median(ars_rates):8.1f} pairs/s")
    print(f"ratio ARS/bare {statistics.median(ratios):.2f} (target >= 0.8; median of {args.rounds} rounds; "
          f"masks of {100 / 16:.1f}% of the image)")
    print(f"worst case, every mask the whole image: ratio {statistics.median(whole_ratios):.2f} "
          "(the discriminator then scores every patch)")


if __name__ == "__main__":
    main()
