"""``memory_bank``: PatchCore-style, normals only: the "no synthetic data" baseline every dataset must beat.

Locally averaged patch features of a frozen backbone (``anomset.features``) from the training normals
(anomalies in the training set are ignored) are subsampled by PatchCore's greedy coreset on a seeded
random projection. A test patch scores its distance to the nearest bank patch (mean over
``neighbours``); the image score is the largest patch score, optionally reweighted as PatchCore's
eq. 7; maps are the patch scores upsampled bilinearly and Gaussian-smoothed (σ 4 at ``image_size``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from anomset.evaluate.detectors.base import Detector, DetectorError, TrainSet, check_images
from anomset.evaluate.detectors.patch_features import PatchFeatureParams, as_patches, full_size_maps, load_backbone
from anomset.registry import DETECTORS


class MemoryBankParams(PatchFeatureParams):
    coreset_ratio: float = Field(default=0.1, gt=0, le=1, description="share of the normal patches kept (1 = all)")
    projection_dim: int = Field(default=128, ge=0, le=65_536,
                                description="random projection used to pick the coreset (0 = none)")
    neighbours: int = Field(default=1, ge=1, le=1024, description="bank neighbours averaged into a patch score")
    reweight: bool = Field(default=False, description="PatchCore's eq. 7 reweighting of the image score")
    reweight_neighbours: int = Field(default=9, ge=1, le=1024, description="b of the reweighting neighbourhood")


@DETECTORS.register("memory_bank")
class MemoryBankDetector(Detector):
    """PatchCore-style memory bank of normal patch features (coreset, kNN): the no-synthetic-data baseline."""

    Params = MemoryBankParams
    SUPERVISED = False

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.backbone_: Any = None
        self.bank_: Any = None
        self.bank_norms_: Any = None
        self.patches_seen_ = 0

    def embed(self, images: np.ndarray) -> Any:
        """Combined patch features ``N×C×h×w`` (float32, on the detector's device)."""
        if self.backbone_ is None:
            self.backbone_ = load_backbone(self.params, field="memory_bank.backbone")
        return self.backbone_.features(list(images))

    def fit(self, train: TrainSet) -> MemoryBankDetector:
        import torch

        from anomset.evaluate.detectors.knn import greedy_coreset, squared_norms

        self.check_train(train)
        p = self.params
        normals = train.images[train.labels == 0]
        patches = as_patches(self.embed(normals))
        self.patches_seen_ = patches.shape[0]
        count = max(1, round(p.coreset_ratio * patches.shape[0]))
        generator = torch.Generator().manual_seed(p.seed)
        chosen = greedy_coreset(patches, count, generator, p.projection_dim)
        self.bank_ = patches[chosen].contiguous()
        self.bank_norms_ = squared_norms(self.bank_)
        return self

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from anomset.evaluate.detectors.knn import knn

        if self.bank_ is None:
            raise DetectorError("memory_bank: call fit before score")
        images = check_images(images)
        p = self.params
        grid = self.embed(images)
        n, _, h, w = grid.shape
        queries = as_patches(grid)
        distances, indices = knn(queries, self.bank_, p.neighbours, self.bank_norms_)
        patch_scores = distances.mean(1).view(n, h * w)
        image_scores, worst = patch_scores.max(1)
        if p.reweight:
            rows = torch.arange(n, device=queries.device) * (h * w) + worst
            image_scores = image_scores * self._reweighting(queries[rows], indices[rows, 0])
        maps = full_size_maps(patch_scores.view(n, h, w), p.image_size, images.shape[1:3], p.smoothing_sigma)
        return image_scores.double().cpu().numpy(), maps.cpu().numpy().astype(np.float32)

    def _reweighting(self, worst: Any, nearest: Any) -> Any:
        """PatchCore eq. 7: ``1 − exp(d(m, m*)) / Σ_{b ∈ N_b(m*)} exp(d(m, b))`` per image's worst patch ``m``."""
        import torch

        from anomset.evaluate.detectors.knn import knn

        _, neighbourhood = knn(self.bank_[nearest], self.bank_, self.params.reweight_neighbours, self.bank_norms_)
        to_neighbourhood = torch.linalg.vector_norm(worst[:, None, :] - self.bank_[neighbourhood], dim=2)
        to_nearest = torch.linalg.vector_norm(worst - self.bank_[nearest], dim=1)
        return 1 - torch.exp(to_nearest - torch.logsumexp(to_neighbourhood, dim=1))
