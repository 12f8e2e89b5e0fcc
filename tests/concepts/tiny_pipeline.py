"""A tiny random inpainting pipeline for concept-learning tests (configs only, saved with save_pretrained).

The tokenizer is a character-level CLIP BPE vocabulary (no merges) with room for 32 positions, enough
for "a photo of" plus 12 learned tokens.
"""

from __future__ import annotations

import json
from pathlib import Path


def _tokenizer(folder: Path, max_length: int) -> None:
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("!"), ord("~") + 1)]
    vocab = {ch: i for i, ch in enumerate(letters)}
    for ch in letters:
        vocab[ch + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                  model_max_length=max_length).save_pretrained(folder)


def build_tiny_inpaint(folder: Path, seed: int = 0, max_length: int = 32) -> Path:
    """Save a random ``StableDiffusionInpaintPipeline`` (UNet 32/64, VAE 16/32, 2-layer CLIP, hidden 32)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    _tokenizer(folder / "tok", max_length)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "tok")
    torch.manual_seed(seed)  # test-only: model constructors take no generator
    unet = UNet2DConditionModel(block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=9,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(16, 32), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        latent_channels=4, norm_num_groups=8)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                        pad_token_id=tokenizer.pad_token_id, hidden_size=32, intermediate_size=37,
                                        num_attention_heads=4, num_hidden_layers=2, vocab_size=len(tokenizer),
                                        max_position_embeddings=max_length, projection_dim=32))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    StableDiffusionInpaintPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False).save_pretrained(folder / "pipe")
    return folder / "pipe"
