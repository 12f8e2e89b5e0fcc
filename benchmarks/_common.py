"""What several benchmarks share: a random-weight ResNet written with ``save_pretrained`` (no download)."""

from __future__ import annotations

from pathlib import Path


def build_resnet(folder: Path, widths: list[int], depths: list[int]) -> Path:
    """A basic-block ResNet of these stage widths and depths, seeded, saved to ``folder`` for the real loader."""
    import torch
    from transformers import ResNetConfig, ResNetModel

    torch.manual_seed(0)
    config = ResNetConfig(embedding_size=widths[0], hidden_sizes=widths, depths=depths, layer_type="basic")
    ResNetModel(config).save_pretrained(folder)
    return folder
