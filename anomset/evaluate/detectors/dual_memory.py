"""``dual_memory`` (ExDD): two memory banks, normal and synthetic-anomalous, scored by a neighbourhood-aware ratio.

Each chosen backbone layer is one scale with its own pair of banks: the patches of the training
normals (greedy coreset), and the patches of the synthetic anomalies that lie inside their masks (a
grid cell counts when at least ``mask_coverage`` of it is masked; every anomaly gives at least its
most covered cell). A test patch's distances to its ``neighbours`` nearest normal and anomalous
patches, ``d_N`` and ``d_A``, are averaged over a spatial ``window`` (the neighbourhood), then fused as

    s = d_N / σ_N · (d_N / (d_N + d_A))^ratio_power

— high only where a patch is both far from normality and near known defects; ``σ_N`` is the
typical spacing of the normal bank (leave-one-out nearest distance), so scales are comparable. The
per-scale maps are upsampled to ``image_size`` and averaged; the image score is the maximum of the
Gaussian-smoothed fused map. Implemented from the ExDD paper's description (no code followed).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from anomset.evaluate.detectors.base import Detector, DetectorError, TrainSet, check_images
from anomset.evaluate.detectors.patch_features import (
    PatchFeatureParams,
    as_patches,
    gaussian_blur,
    layer_features,
    load_backbone,
)
from anomset.registry import DETECTORS

EPS = 1e-8
SPACING_SAMPLE = 4096  # bank rows used to measure the normal bank's spacing


class DualMemoryParams(PatchFeatureParams):
    layers: list[str | int] = Field(default_factory=lambda: ["stage1", "stage2", "stage3"], min_length=1,
                                    description="one scale (and one pair of banks) per layer")
    normal_coreset_ratio: float = Field(default=0.1, gt=0, le=1, description="share of normal patches kept")
    anomaly_coreset_ratio: float = Field(default=1.0, gt=0, le=1, description="share of anomalous patches kept")
    projection_dim: int = Field(default=128, ge=0, le=65_536, description="coreset's random projection (0 = none)")
    mask_coverage: float = Field(default=0.5, gt=0, le=1, description="masked share that makes a cell anomalous")
    neighbours: int = Field(default=3, ge=1, le=1024, description="nearest bank patches averaged per distance")
    window: int = Field(default=3, ge=1, le=15, description="spatial neighbourhood (cells) the distances average over")
    ratio_power: float = Field(default=1.0, ge=0, le=10, description="weight of the anomalous-bank ratio (0 = off)")

    @field_validator("window")
    @classmethod
    def _odd_window(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"window must be odd (a centred neighbourhood), got {value}")
        return value


@DETECTORS.register("dual_memory")
class DualMemoryDetector(Detector):
    """ExDD: normal and synthetic-anomalous patch memory banks, neighbourhood-aware ratio scores fused over scales."""

    Params = DualMemoryParams
    SUPERVISED = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.backbone_: Any = None
        self.banks_: list[dict[str, Any]] = []

    def _features(self, images: np.ndarray) -> list[Any]:
        if self.backbone_ is None:
            self.backbone_ = load_backbone(self.params, field="dual_memory.backbone")
        return layer_features(self.backbone_, list(images))

    def fit(self, train: TrainSet) -> DualMemoryDetector:
        import torch
        import torch.nn.functional as F

        from anomset.evaluate.detectors.knn import greedy_coreset, knn, squared_norms

        self.check_train(train)
        if train.anomalies == len(train):
            raise DetectorError("dual_memory needs normals for its normal bank but the training set has none")
        p = self.params
        generator = torch.Generator().manual_seed(p.seed)
        normal = train.labels == 0
        scales = self._features(train.images)
        masks = torch.from_numpy((train.masks[~normal] > 0).astype(np.float32))[:, None]
        self.banks_ = []
        for layer, grid in zip(p.layers, scales, strict=True):
            normal_patches = as_patches(grid[torch.from_numpy(normal).to(grid.device)])
            keep = max(1, round(p.normal_coreset_ratio * normal_patches.shape[0]))
            normal_bank = normal_patches[greedy_coreset(normal_patches, keep, generator, p.projection_dim)]
            coverage = F.adaptive_avg_pool2d(masks, grid.shape[-2:])[:, 0].to(grid.device)  # A×h×w
            cells = coverage >= p.mask_coverage
            flat = coverage.flatten(1)
            every = torch.arange(len(cells), device=cells.device)  # each anomaly's most covered cell counts
            cells.view(len(cells), -1)[every, flat.argmax(1)] |= flat.max(1).values > 0
            anomalous_patches = grid[torch.from_numpy(~normal).to(grid.device)].permute(0, 2, 3, 1)[cells]
            if anomalous_patches.shape[0] == 0:
                raise DetectorError("dual_memory: the training anomalies' masks are empty",
                                    fix="train on a build whose anomalies carry their masks")
            keep = max(1, round(p.anomaly_coreset_ratio * anomalous_patches.shape[0]))
            anomalous_bank = anomalous_patches[greedy_coreset(anomalous_patches, keep, generator, p.projection_dim)]
            self.banks_.append({"layer": layer, "normal": normal_bank, "normal_norms": squared_norms(normal_bank),
                                "anomalous": anomalous_bank, "anomalous_norms": squared_norms(anomalous_bank),
                                "spacing": self._spacing(normal_bank, generator, knn)})
        return self

    @staticmethod
    def _spacing(bank: Any, generator: Any, knn: Any) -> float:
        """Mean leave-one-out nearest distance within the normal bank (a seeded sample of its rows)."""
        import torch

        if bank.shape[0] < 2:
            return 1.0
        rows = torch.randperm(bank.shape[0], generator=generator)[:SPACING_SAMPLE].to(bank.device)
        distances, _ = knn(bank[rows], bank, 2)
        return max(float(distances[:, 1].mean()), EPS)

    def scale_maps(self, images: np.ndarray) -> list[Any]:
        """Each scale's fused score ``N×h×w`` on its own grid (before upsampling and averaging)."""
        import torch.nn.functional as F

        from anomset.evaluate.detectors.knn import knn

        p = self.params
        out = []
        for bank, grid in zip(self.banks_, self._features(images), strict=True):
            n, _, h, w = grid.shape
            queries = as_patches(grid)
            d_normal = knn(queries, bank["normal"], p.neighbours, bank["normal_norms"])[0].mean(1).view(n, 1, h, w)
            d_anomal = knn(queries, bank["anomalous"], p.neighbours, bank["anomalous_norms"])[0].mean(1)
            d_anomal = d_anomal.view(n, 1, h, w)
            if p.window > 1:
                d_normal = F.avg_pool2d(d_normal, p.window, 1, p.window // 2, count_include_pad=False)
                d_anomal = F.avg_pool2d(d_anomal, p.window, 1, p.window // 2, count_include_pad=False)
            ratio = d_normal / (d_normal + d_anomal + EPS)
            out.append((d_normal / bank["spacing"] * ratio.pow(p.ratio_power))[:, 0])
        return out

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch
        import torch.nn.functional as F

        if not self.banks_:
            raise DetectorError("dual_memory: call fit before score")
        images = check_images(images)
        p = self.params
        size = (p.image_size, p.image_size)
        fused = torch.stack([F.interpolate(m[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
                             for m in self.scale_maps(images)]).mean(0)
        fused = gaussian_blur(fused, p.smoothing_sigma)
        image_scores = fused.flatten(1).max(1).values
        if tuple(images.shape[1:3]) != size:
            fused = F.interpolate(fused[:, None], size=images.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
        return image_scores.double().cpu().numpy(), fused.cpu().numpy().astype(np.float32)
