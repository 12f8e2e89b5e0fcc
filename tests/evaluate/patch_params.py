"""Params that fit the patch-feature detectors (memory_bank, dual_memory) to the tiny ResNet and 32 px sets."""

from __future__ import annotations

from pathlib import Path


def patch_params(resnet: Path, **overrides) -> dict:
    """Two shallow layers, 32 px input, CPU, light smoothing; ``overrides`` win."""
    return {"backbone": str(resnet), "layers": ["stage1", "stage2"], "image_size": 32, "device": "cpu",
            "smoothing_sigma": 1.0, **overrides}
