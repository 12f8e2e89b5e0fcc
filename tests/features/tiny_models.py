"""Tiny random backbones written with ``save_pretrained``: tests load them through the real loaders.

Other tests (detectors, clustering) import these; nothing here touches the network.
"""

from __future__ import annotations

import json
from pathlib import Path


def tiny_resnet(folder: Path, *, widths: tuple[int, ...] = (8, 16, 32, 64), seed: int = 0,
                preprocessor: dict | None = None) -> Path:
    """A 4-stage basic-block ResNet with random weights, saved to ``folder`` (config + safetensors)."""
    import torch
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(seed)  # test-only: save_pretrained has no generator argument for the init
    config = ResNetConfig(num_channels=3, embedding_size=widths[0], hidden_sizes=list(widths),
                          depths=[1] * len(widths), layer_type="basic")
    ResNetModel(config).save_pretrained(folder)
    if preprocessor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return folder


def tiny_vit(folder: Path, *, kind: str = "vit", hidden: int = 16, layers: int = 2, patch: int = 8,
             seed: int = 0) -> Path:
    """A 2-block ViT (``kind='vit'``) or DINOv2 (``'dinov2'``, optionally with registers) with random weights."""
    import torch
    from transformers import (
        Dinov2Config,
        Dinov2Model,
        Dinov2WithRegistersConfig,
        Dinov2WithRegistersModel,
        ViTConfig,
        ViTModel,
    )

    torch.manual_seed(seed)
    common = dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
                  image_size=32, patch_size=patch)
    if kind == "vit":
        model = ViTModel(ViTConfig(**common))
    elif kind == "dinov2":
        model = Dinov2Model(Dinov2Config(**common))
    elif kind == "dinov2_registers":
        model = Dinov2WithRegistersModel(Dinov2WithRegistersConfig(**common, num_register_tokens=4))
    else:
        raise ValueError(kind)
    model.save_pretrained(folder)
    return folder
