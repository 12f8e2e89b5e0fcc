"""``draem_split``: DRAEM's reconstructive + discriminative networks with the augmentation framework's parity split.

The anomalies come from the dataset (its synthetic samples and masks), not from DRAEM's own Perlin
augmentation, and nothing is rotated. The training normals, in key order, are split by parity of
their position (0-based): the **odd** ones, with the anomalies made from them (an anomaly's json
``source_key`` is the source image its normal copies), train the reconstructive network to give back
the clean normal (L2 + SSIM loss); the **even** ones, with their anomalies (and any anomaly whose
source normal is not in the set), only pass through it, in eval mode (as a test image will) and without
that loss or gradient, and train the discriminative network on (image, reconstruction) against the mask
with the focal loss. So the discriminator learns from reconstructions of images the reconstructor never
fitted, as the test images will be. Both losses are summed and stepped together, len(train)/batch_size
times an epoch (a pass over the whole set, as in DRAEM, whichever side is larger). The map is the
discriminator's probability; the image score is its maximum after a ``score_window`` mean filter (DRAEM's 21 px at
256 px, scaled to ``image_size`` unless given). A fixed schedule with DRAEM's step decay (×0.2 at 80% and
90% of the epochs) and its unweighted focal loss; seeded; bf16 on a GPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from anomset.configurable import StrictModel
from anomset.evaluate.detectors.base import Detector, DetectorError, TrainSet, check_images, resolve_device
from anomset.evaluate.detectors.training import autocast, resize_square
from anomset.registry import DETECTORS

# DRAEM smooths its 256 px maps with a 21 px mean filter: the same share of the image at any size
# (a fixed 21 px at 64 px would average a third of the image and wash small defects out).
DRAEM_WINDOW, DRAEM_SIZE = 21, 256


class DraemSplitParams(StrictModel):
    image_size: int = Field(default=256, ge=16, le=2048, description="side the images are resized to")
    reconstruction_width: int = Field(default=32, ge=2, le=512, description="first-level channels (DRAEM: 128)")
    discriminator_width: int = Field(default=16, ge=2, le=512, description="first-level channels (DRAEM: 64)")
    depth: int = Field(default=4, ge=1, le=6, description="poolings of both networks")
    epochs: int = Field(default=50, ge=1, le=100_000)
    batch_size: int = Field(default=8, ge=1, le=1024)
    lr: float = Field(default=1e-3, gt=0, le=1, description="Adam step (DRAEM: 1e-4 over 700 epochs; too slow "
                                                              "for a schedule of tens), ×0.2 at 80% and 90% of "
                                                              "the epochs as in DRAEM")
    ssim_weight: float = Field(default=1.0, ge=0, le=100)
    ssim_window: int = Field(default=11, ge=3, le=31)
    focal_gamma: float = Field(default=2.0, ge=0, le=10)
    focal_alpha: float = Field(default=0.5, gt=0, lt=1,
                               description="weight of anomalous pixels (DRAEM: unweighted, 0.5)")
    score_window: int | None = Field(default=None, ge=1, le=255,
                                     description="mean filter before the image max (px at image_size); "
                                                 "none = DRAEM's 21 px at 256, scaled to image_size")
    seed: int = Field(default=0, ge=0)
    device: str = Field(default="auto", description="auto (GPU when present), cpu, cuda, cuda:N")
    mixed_precision: bool = Field(default=True, description="bf16 autocast on a GPU (never on the CPU)")

    @field_validator("ssim_window", "score_window")
    @classmethod
    def _odd(cls, value: int | None) -> int | None:
        if value is not None and value % 2 == 0:
            raise ValueError(f"must be odd (a centred window), got {value}")
        return value

    @model_validator(mode="after")
    def _size_fits_depth(self) -> DraemSplitParams:
        if self.image_size % 2**self.depth:
            raise ValueError(f"image_size {self.image_size} must be a multiple of 2**depth = {2 ** self.depth}")
        return self

    @property
    def window(self) -> int:
        """The image score's mean filter side: ``score_window``, or DRAEM's 21 px at 256 scaled (odd)."""
        if self.score_window is not None:
            return self.score_window
        return 2 * round((DRAEM_WINDOW * self.image_size / DRAEM_SIZE - 1) / 2) + 1


def parity_split(train: TrainSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(reconstruction rows, their clean-target rows, discriminator rows)`` of ``train`` (see the module doc)."""
    normals = sorted(np.flatnonzero(train.labels == 0), key=lambda i: train.keys[i])
    # A build's normal carries the source image it copies as its source_key, as its anomalies do.
    sources = [source or key for source, key in zip(train.meta_field("source_key", ""), train.keys, strict=True)]
    position = {sources[i]: (rank, i) for rank, i in enumerate(normals)}
    recon, target, disc = [], [], []
    for i in range(len(train)):
        rank, clean = position.get(sources[i], (0, -1))
        if clean >= 0 and rank % 2 == 1:
            recon.append(i)
            target.append(clean)
        else:
            disc.append(i)
    return np.array(recon, np.int64), np.array(target, np.int64), np.array(disc, np.int64)


@DETECTORS.register("draem_split")
class DraemSplitDetector(Detector):
    """DRAEM reconstruction + discrimination on the synthetic anomalies, odd/even split of the normals, no rotation."""

    Params = DraemSplitParams
    SUPERVISED = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.reconstructor_: Any = None
        self.discriminator_: Any = None
        self.device_ = ""
        self.losses_: list[dict[str, float]] = []
        self.lrs_: list[float] = []  # the learning rate of each epoch

    def fit(self, train: TrainSet) -> DraemSplitDetector:
        import torch

        from anomset.evaluate.detectors.draem_net import ReconstructiveNet, ssim
        from anomset.evaluate.detectors.unet_net import UNet, focal_loss

        self.check_train(train)
        p = self.params
        recon, target, disc = parity_split(train)
        if len(recon) == 0 or train.anomalies == len(train) or not (train.labels[disc] == 1).any():
            raise DetectorError("draem_split needs at least 2 normals and anomalies on the discriminator's side "
                                f"(got {len(recon)} reconstruction and {len(disc)} discriminator samples)",
                                fix="train on a build with several normals and anomalies in its train split")
        self.device_ = resolve_device(p.device)
        images = self._inputs(train.images)
        masks = torch.from_numpy(np.stack([resize_square((m > 0).astype(np.float32), p.image_size)
                                           for m in train.masks]))[:, None]
        with torch.random.fork_rng(devices=[]):  # the seed decides the weights; the global state is restored
            torch.manual_seed(p.seed)
            reconstructor = ReconstructiveNet(p.reconstruction_width, p.depth).to(self.device_)
            discriminator = UNet(p.discriminator_width, p.depth, in_channels=6).to(self.device_)
        optimizer = torch.optim.Adam([*reconstructor.parameters(), *discriminator.parameters()], lr=p.lr)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, draem_milestones(p.epochs), gamma=0.2)
        rng = np.random.default_rng(p.seed)
        amp = autocast(p.mixed_precision, self.device_)
        reconstructor.train()
        discriminator.train()
        self.losses_, self.lrs_ = [], []
        # An epoch is a pass over the whole training set, as in DRAEM (where both networks step on every
        # batch): the split must not halve either network's updates, so each steps len(train)/batch times.
        steps = self.steps_per_epoch(len(train))
        report_epoch = self.epoch_reporter(p.epochs)
        for epoch in range(1, p.epochs + 1):
            recon_order = _cycled(rng, len(recon), steps * p.batch_size)
            disc_order = _cycled(rng, len(disc), steps * p.batch_size)
            sums = {"l2": 0.0, "ssim": 0.0, "focal": 0.0}
            for step in range(steps):
                batch = slice(step * p.batch_size, (step + 1) * p.batch_size)
                r, d = recon_order[batch], disc_order[batch]
                x_r = images[recon[r]].to(self.device_)
                clean = images[target[r]].to(self.device_)
                x_d = images[disc[d]].to(self.device_)
                y_d = masks[disc[d]].to(self.device_)
                with amp:
                    rebuilt = reconstructor(x_r).float()
                l2 = torch.nn.functional.mse_loss(rebuilt, clean)
                structural = 1 - ssim(rebuilt, clean, p.ssim_window)
                # The even side only passes through, as a test image will: in eval mode (running BN
                # statistics, left untouched), without loss or gradient.
                reconstructor.eval()
                with torch.no_grad(), amp:
                    passed = reconstructor(x_d).float()
                reconstructor.train()
                with amp:
                    logits = discriminator(torch.cat([x_d, passed], dim=1)).float()
                focal = focal_loss(logits, y_d, p.focal_gamma, p.focal_alpha)
                loss = l2 + p.ssim_weight * structural + focal
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums["l2"] += float(l2.detach())
                sums["ssim"] += float(structural.detach())
                sums["focal"] += float(focal.detach())
            self.losses_.append({name: value / steps for name, value in sums.items()})
            self.lrs_.append(optimizer.param_groups[0]["lr"])
            scheduler.step()
            report_epoch(epoch, sum(self.losses_[-1].values()))
        self.reconstructor_, self.discriminator_ = reconstructor.eval(), discriminator.eval()
        return self

    def steps_per_epoch(self, rows: int) -> int:
        """Optimiser steps of one epoch over ``rows`` training rows (each network gets one batch a step)."""
        return -(-rows // self.params.batch_size)

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch
        import torch.nn.functional as F

        if self.discriminator_ is None:
            raise DetectorError("draem_split: call fit before score")
        images = check_images(images)
        p = self.params
        height, width = images.shape[1:3]
        x = self._inputs(images)
        maps, image_scores = [], []
        with torch.no_grad(), autocast(p.mixed_precision, self.device_):
            for start in range(0, len(x), p.batch_size):
                batch = x[start:start + p.batch_size].to(self.device_)
                logits = self.discriminator_(torch.cat([batch, self.reconstructor_(batch).float()], dim=1))
                probability = torch.sigmoid(logits.float())
                window = p.window
                smooth = F.avg_pool2d(probability, window, 1, window // 2, count_include_pad=False)
                image_scores.append(smooth.flatten(1).max(1).values.cpu())
                maps.append(probability[:, 0].cpu())
        full = F.interpolate(torch.cat(maps)[:, None], size=(height, width), mode="bilinear", align_corners=False)
        return torch.cat(image_scores).double().numpy(), full[:, 0].numpy().astype(np.float32)

    def _inputs(self, images: np.ndarray) -> Any:
        import torch

        resized = np.stack([resize_square(image, self.params.image_size) for image in images]).astype(np.float32)
        return torch.from_numpy(resized / 255.0).permute(0, 3, 1, 2).contiguous()


def draem_milestones(epochs: int) -> list[int]:
    """DRAEM's step decay: the epochs (0-based) from which the rate drops ×0.2, at 80% and 90% of the schedule."""
    return [max(1, int(epochs * 0.8)), max(1, int(epochs * 0.9))]


def _cycled(rng: np.random.Generator, size: int, length: int) -> np.ndarray:
    """``length`` indices into ``size`` rows: fresh permutations back to back (the smaller side repeats)."""
    parts = [rng.permutation(size) for _ in range(-(-length // size))]
    return np.concatenate(parts)[:length]
