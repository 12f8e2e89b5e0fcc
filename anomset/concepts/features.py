"""Per-defect features for clustering: ViT tokens pooled inside the mask, LAB statistics, LBP histograms.

Each real defect is cropped around its mask's box (plus a margin of context), so a small defect still
covers many ViT patches. The three blocks are computed inside the mask only; ``blocks`` standardises
each over the defects, scales it to unit total variance (so a 768-dim block does not outweigh a
6-dim one) and applies its weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from anomset.context import ShownDefect

if TYPE_CHECKING:
    from anomset.concepts.spec import ClusterSpec
    from anomset.features.backbone import Backbone

MIN_CROP = 16  # pixels: the smallest crop side, so tiny defects keep some context


def crop_box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """A square (x0, y0, x1, y1) around the mask's box grown by ``margin`` × its side, inside the image."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape[:2]
    cx, cy = (xs.min() + xs.max() + 1) / 2.0, (ys.min() + ys.max() + 1) / 2.0
    side = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    side = min(max(round(side * (1.0 + 2.0 * margin)), MIN_CROP), h, w)
    x0 = int(np.clip(round(cx - side / 2.0), 0, w - side))
    y0 = int(np.clip(round(cy - side / 2.0), 0, h - side))
    return x0, y0, x0 + side, y0 + side


def crop(defect: ShownDefect, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """The defect's image and mask cut to ``crop_box``."""
    x0, y0, x1, y1 = crop_box(defect.mask, margin)
    return defect.image[y0:y1, x0:x1], defect.mask[y0:y1, x0:x1]


def lab_stats(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean, standard deviation and 10/50/90th percentiles of L, a, b inside the mask (15 values)."""
    from skimage.color import rgb2lab

    lab = rgb2lab(image)[mask > 0]
    return np.concatenate([lab.mean(0), lab.std(0), *np.percentile(lab, [10, 50, 90], axis=0)])


def lbp_histogram(image: np.ndarray, mask: np.ndarray, points: int, radius: float) -> np.ndarray:
    """Normalised histogram of rotation-invariant uniform LBP codes inside the mask (``points + 2`` bins)."""
    from skimage.feature import local_binary_pattern

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    codes = local_binary_pattern(grey, points, radius, method="uniform")[mask > 0]
    hist = np.bincount(codes.astype(np.int64), minlength=points + 2).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def masked_token_means(maps: list[Any], masks: Sequence[np.ndarray]) -> np.ndarray:
    """Each layer's ``N×C×h×w`` map averaged over the patches the mask covers (area-weighted), layers
    L2-normalised then concatenated: ``N × ΣC``."""
    import torch

    out = []
    for layer in maps:
        h, w = layer.shape[-2:]
        weights = np.stack([cv2.resize((m > 0).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
                            for m in masks])
        weights = torch.from_numpy(weights).to(layer.device)[:, None]
        # A mask thinner than one patch everywhere still picks the patches it touches most.
        weights = torch.where(weights.sum((2, 3), keepdim=True) > 0, weights, torch.ones_like(weights))
        pooled = (layer * weights).sum((2, 3)) / weights.sum((2, 3))
        out.append(torch.nn.functional.normalize(pooled, dim=1))
    return torch.cat(out, dim=1).cpu().double().numpy()


def load_vit(spec: ClusterSpec) -> Backbone:
    """The clustering ViT through the one backbone module (``from_pretrained``, Hub id or folder)."""
    from anomset.features.backbone import Backbone

    return Backbone(spec.backbone, revision=spec.revision, layers=spec.layers, image_size=spec.image_size, pool=1,
                    device=spec.device, field="concepts.cluster.backbone")


def defect_features(defects: Sequence[ShownDefect], spec: ClusterSpec,
                    vit: Backbone | None = None) -> dict[str, np.ndarray]:
    """The raw blocks ``{"vit", "lab", "lbp"}`` (each ``N × d``) of the shown defects."""
    crops = [crop(d, spec.margin) for d in defects]
    blocks: dict[str, np.ndarray] = {
        "lab": np.stack([lab_stats(i, m) for i, m in crops]),
        "lbp": np.stack([lbp_histogram(i, m, spec.lbp_points, spec.lbp_radius) for i, m in crops]),
    }
    if spec.vit_weight > 0:
        vit = vit or load_vit(spec)
        images = [cv2.resize(i, vit.image_size[::-1], interpolation=cv2.INTER_AREA) for i, _ in crops]
        masks = [cv2.resize(m, vit.image_size[::-1], interpolation=cv2.INTER_NEAREST) for _, m in crops]
        blocks["vit"] = masked_token_means(vit.layer_maps(images), masks)
    return blocks


def combine_blocks(blocks: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """One ``N × D`` matrix: each block z-scored per dimension over the defects, divided by √(its
    dimensions) so every block carries the same total variance, times its weight."""
    parts = []
    for name in sorted(blocks):
        weight = weights.get(name, 0.0)
        if weight <= 0:
            continue
        block = np.asarray(blocks[name], np.float64)
        std = block.std(0)
        z = (block - block.mean(0)) / np.where(std > 1e-12, std, 1.0)
        parts.append(z * weight / np.sqrt(block.shape[1]))
    if not parts:
        raise ValueError("every feature block has weight 0")
    return np.concatenate(parts, axis=1)
