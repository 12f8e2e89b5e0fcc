"""diffusion_text generation on a GPU against the FLOP-bound rate of that GPU (the Stable Diffusion 1.5 architecture).

No weights can be downloaded, so the real SD-1.5 inpainting architecture (``_sd15.py``: UNet 320/640/1280/1280 with
9 input channels, cross-attention 768; the 4-level VAE; a 12-layer CLIP text encoder) is built from its
config with random weights, saved with ``save_pretrained`` and loaded back through anomset's loader.
Random weights cost exactly what trained ones do. Then:

- FLOPs: one UNet step at the working size is counted with ``torch.utils.flop_counter`` (batch 2 per
  image: classifier-free guidance), plus one VAE encode (image and masked image) and decode per image;
  FLOPs per image = UNet step x steps + VAE.
- The bound: peak dense bf16 FLOP/s of the GPU (``--peak-tflops``, or a table of known GPUs) / FLOPs per
  image, in images/s.
- Generation: ``DiffusionText.apply_batch`` (the build's call: seeds, resizing, pipeline, paste back)
  on batches of ``--batch`` 512² images, ``--steps`` steps, timed after a warm-up; images/s and its
  share of the bound (target >= 0.5).

    python benchmarks/diffusion_gpu.py [--size 512] [--steps 30] [--batch 8] [--rounds 3] [--dtype bfloat16]
    python benchmarks/diffusion_gpu.py --tiny --device cpu --dtype float32   # the script itself, on a CPU
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
                    "RTX 4090": 165.0, "RTX 3090": 71.0}
TARGET = 0.5


def count_flops(pipe, size: tuple[int, int]) -> tuple[float, float]:
    """(FLOPs of one guided UNet step for one image, FLOPs of the VAE work for one image)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    device, dtype = pipe.unet.device, pipe.unet.dtype
    h, w = size[0] // pipe.vae_scale_factor, size[1] // pipe.vae_scale_factor
    latents = torch.zeros(2, pipe.unet.config.in_channels, h, w, device=device, dtype=dtype)
    context = torch.zeros(2, 77, pipe.unet.config.cross_attention_dim, device=device, dtype=dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as unet_count:
        pipe.unet(latents, torch.tensor(500, device=device), encoder_hidden_states=context)
    image = torch.zeros(1, 3, *size, device=device, dtype=dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as vae_count:
        moments = pipe.vae.encode(image).latent_dist.mean
        pipe.vae.encode(image)  # the masked image is encoded too
        pipe.vae.decode(moments)
    return float(unet_count.get_total_flops()), float(vae_count.get_total_flops())


def peak_tflops(device: str, given: float | None) -> float | None:
    import torch

    if given is not None:
        return given
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name(torch.device(device))
    return next((peak for key, peak in PEAK_BF16_TFLOPS.items() if key in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="bfloat16", choices=("bfloat16", "float16", "float32"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense peak at --dtype")
    parser.add_argument("--model", type=Path, default=None,
                        help="a saved SD-1.5 folder (python benchmarks/_sd15.py FOLDER) instead of building one")
    parser.add_argument("--tiny", action="store_true", help="the tests' tiny pipeline (checks the script on a CPU)")
    args = parser.parse_args()

    import torch

    from anomset.context import ImagePool, SampleContext
    from anomset.synth.diffusion_text import DiffusionText

    if args.device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        if args.tiny:
            from tests.diffusion.tiny_pipeline import tiny_inpaint_pipeline

            folder = tiny_inpaint_pipeline(Path(tmp) / "tiny")
        elif args.model is not None:
            folder = args.model
        else:
            from _sd15 import sd15_inpaint  # benchmarks/ is on the path when run as a script

            folder = sd15_inpaint(Path(tmp), args.dtype)
        built = time.perf_counter() - started
        rng = np.random.default_rng(0)
        size = args.size
        images = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(args.batch)]
        masks = []
        for _ in range(args.batch):
            mask = np.zeros((size, size), np.uint8)
            mask[size // 4:size // 2, size // 3:2 * size // 3] = 255
            masks.append(mask)
        contexts = [SampleContext.whole_image((size, size)) for _ in images]
        synth = DiffusionText(model=str(folder), dtype=args.dtype, steps=args.steps, batch_size=args.batch,
                              prompt="a scratch on brushed metal")
        started = time.perf_counter()
        synth.setup(ImagePool(images), args.device)
        loaded = time.perf_counter() - started
        pipe = synth.model.pipe
        unet_step, vae = count_flops(pipe, (size, size))
        per_image = unet_step * args.steps + vae

        def run(round_index: int) -> float:
            rngs = [np.random.default_rng([round_index, i]) for i in range(args.batch)]
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            synth.apply_batch(images, masks, contexts, rngs)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            return time.perf_counter() - start

        run(0)  # warm-up: kernels chosen, memory pools grown
        rates = [args.batch / run(r + 1) for r in range(args.rounds)]
        synth.teardown()
    rate = statistics.median(rates)
    peak = peak_tflops(args.device, args.peak_tflops)
    name = torch.cuda.get_device_name(torch.device(args.device)) if args.device.startswith("cuda") else "cpu"
    print(f"{'tiny pipeline' if args.tiny else 'SD-1.5 inpainting architecture (random weights)'} on {name}, "
          f"{args.dtype}, {size}x{size}, {args.steps} steps, batch {args.batch}, median of {args.rounds} rounds")
    print(f"built + saved {built:.1f} s, loaded through anomset {loaded:.1f} s")
    print(f"FLOPs per image: UNet {unet_step / 1e9:.1f} GFLOP/step (guided, x{args.steps}) + VAE {vae / 1e9:.1f} GFLOP "
          f"= {per_image / 1e12:.2f} TFLOP")
    print(f"generation through anomset: {rate:.3f} images/s ({per_image * rate / 1e12:.1f} TFLOP/s achieved)")
    if peak is not None:
        bound = peak * 1e12 / per_image
        share = rate / bound
        print(f"FLOP bound at {peak:g} TFLOP/s: {bound:.3f} images/s; share {share:.2f} "
              f"({'ok' if share >= TARGET else 'below'} target {TARGET})")
    else:
        print("no peak known for this device: pass --peak-tflops to get the share of the bound")


if __name__ == "__main__":
    main()
