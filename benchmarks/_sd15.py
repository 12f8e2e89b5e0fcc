"""The Stable Diffusion 1.5 inpainting architecture with random weights, for the GPU benchmarks (no download).

UNet 320/640/1280/1280 with 9 input channels and cross-attention 768, the 4-level VAE, a 12-layer CLIP
text encoder with SD's 77 positions; saved with ``save_pretrained`` so anomset loads it through the same
``from_pretrained`` path as a real checkpoint. Random weights cost exactly what trained ones do.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sd15_inpaint(folder: Path, dtype: str) -> Path:
    """The SD-1.5 inpainting pipeline's architecture with random weights, saved to ``folder``."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from tests.diffusion.tiny_pipeline import write_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=9, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768, attention_head_dim=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
                        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4)
    tokenizer = CLIPTokenizer.from_pretrained(write_tokenizer(folder / "_tokenizer_src", max_length=77))
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                        num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                                        projection_dim=768, bos_token_id=tokenizer.bos_token_id,
                                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    scheduler = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                              steps_offset=1)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    pipe.to(getattr(torch, dtype)).save_pretrained(folder / "sd15")
    return folder / "sd15"


if __name__ == "__main__":  # python benchmarks/_sd15.py FOLDER [DTYPE]: build once, for the benchmarks' --model
    sys.path.insert(0, str(ROOT))
    print(sd15_inpaint(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "bfloat16"))
