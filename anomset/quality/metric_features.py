"""The network side of the quality metrics: images → KID features, classifier logits, LPIPS-style maps.

Thin on purpose: ``anomset.quality.metrics`` does the arithmetic on what these return, and each
function returns the provenance that pins its protocol (network id, revision, layers, image size).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from anomset.features.backbone import Backbone, pick_device, to_pixel_values
from anomset.features.loading import load_model, normalisation, parse_reference, provenance
from anomset.quality.metrics import unit_normalise


def kid_features(backbone: Backbone, images: Sequence[np.ndarray]) -> np.ndarray:
    """Global-average-pooled features (N×C) of the backbone's layers, as KID pools Inception's last block."""
    return backbone.features(images).mean(dim=(2, 3)).cpu().numpy().astype(np.float64)


def perceptual_maps(backbone: Backbone, images: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per layer, the channel-normalised N×C×h×w maps that ``metrics.perceptual_distances`` compares."""
    return [unit_normalise(m.cpu().numpy()) for m in backbone.layer_maps(images)]


def classifier_logits(model: str, images: Sequence[np.ndarray], *, revision: str | None = None,
                      image_size: int = 224, device: str = "auto", batch_size: int = 32
                      ) -> tuple[np.ndarray, dict[str, Any]]:
    """An image classifier's logits (N×K) for IS, loaded with ``AutoModelForImageClassification``."""
    import torch

    ref = parse_reference(model, revision)
    net = load_model(ref, auto_class="AutoModelForImageClassification", field="classifier")
    device = pick_device(device)
    net.to(device)
    mean, std, source = normalisation(ref)
    mean_t, std_t = torch.tensor(mean, device=device), torch.tensor(std, device=device)
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = to_pixel_values(images[start:start + batch_size], (image_size, image_size), mean_t, std_t)
            parts.append(net(pixel_values=x).logits.float().cpu().numpy())
    record = {**provenance(ref, net), "image_size": [image_size, image_size], "normalisation": source}
    return np.concatenate(parts).astype(np.float64), record
