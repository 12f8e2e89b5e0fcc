"""``unet``: a supervised U-Net localiser trained on a dataset's image–mask pairs (normals included).

The detector the few-shot generation papers report (GAA, AnomalyDiffusion): focal + Dice loss on
the synthetic masks; the pixel map is the predicted defect probability, resized back to the input;
the image score is the maximum (or the top-k mean) of that map after a Gaussian smoothing. Images
are resized to ``image_size`` for training and scoring. A fixed schedule (``epochs``), no model
selection. Deterministic on the CPU for a given ``seed``; uses the GPU when there is one.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from anomset.configurable import StrictModel
from anomset.evaluate.detectors.base import Detector, DetectorError, TrainSet, check_images, resolve_device
from anomset.evaluate.detectors.training import autocast, flip_dims, resize_square, train_epochs
from anomset.registry import DETECTORS

MEAN, STD = 0.5, 0.25  # input scaling of 0..1 pixels


class UNetParams(StrictModel):
    image_size: int = Field(default=128, ge=16, le=2048, description="side the images are resized to")
    base_channels: int = Field(default=16, ge=2, le=256, description="channels of the first level")
    depth: int = Field(default=3, ge=1, le=6, description="poolings of the encoder")
    epochs: int = Field(default=30, ge=1, le=10000)
    batch_size: int = Field(default=8, ge=1, le=1024)
    lr: float = Field(default=1e-3, gt=0, le=1)
    focal_gamma: float = Field(default=2.0, ge=0, le=10)
    focal_alpha: float = Field(default=0.75, gt=0, lt=1, description="weight of anomalous pixels")
    dice_weight: float = Field(default=1.0, ge=0, le=100)
    flips: bool = Field(default=True, description="random horizontal and vertical flips while training")
    image_score: Literal["max", "topk"] = "max"
    topk: float = Field(default=0.01, gt=0, le=1, description="share of pixels averaged by image_score: topk")
    smoothing_sigma: float = Field(default=2.0, ge=0, le=64, description="Gaussian sigma (px at image_size)")
    seed: int = Field(default=0, ge=0)
    device: str = Field(default="auto", description="auto (GPU when present), cpu, cuda, cuda:N")
    mixed_precision: bool = Field(default=True, description="bf16 autocast on a GPU (never on the CPU)")

    @model_validator(mode="after")
    def _size_fits_depth(self) -> UNetParams:
        if self.image_size % 2**self.depth:
            raise ValueError(f"image_size {self.image_size} must be a multiple of 2**depth = {2 ** self.depth}")
        return self


@DETECTORS.register("unet")
class UNetDetector(Detector):
    """Supervised U-Net localiser (focal + Dice) trained on the synthetic pairs; pixel and image scores."""

    Params = UNetParams
    SUPERVISED = True

    def __init__(self, **params) -> None:
        super().__init__(**params)
        self.model_ = None
        self.device_ = ""
        self.losses_: list[float] = []

    def fit(self, train: TrainSet) -> UNetDetector:
        import torch

        from anomset.evaluate.detectors.unet_net import UNet, dice_loss, focal_loss

        self.check_train(train)
        p = self.params
        self.device_ = resolve_device(p.device)
        images = self._inputs(train.images)
        masks = torch.from_numpy(np.stack([resize_square((m > 0).astype(np.float32), p.image_size)
                                           for m in train.masks]))[:, None]  # soft targets after resizing
        rng = np.random.default_rng(p.seed)
        with torch.random.fork_rng(devices=[]):  # the seed decides the weights; the global state is restored
            torch.manual_seed(p.seed)
            model = UNet(p.base_channels, p.depth).to(self.device_)
        optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
        amp = autocast(p.mixed_precision, self.device_)

        def batch_loss(batch: np.ndarray) -> torch.Tensor:
            x, y = images[batch], masks[batch]
            if p.flips and (dims := flip_dims(rng)):  # the same flip for the images and their masks
                x, y = x.flip(dims), y.flip(dims)
            x, y = x.to(self.device_), y.to(self.device_)
            with amp:
                logits = model(x)
            logits = logits.float()
            return focal_loss(logits, y, p.focal_gamma, p.focal_alpha) + p.dice_weight * dice_loss(logits, y)

        model.train()
        self.losses_ = train_epochs(optimizer, rng, len(train), p.batch_size, p.epochs, batch_loss,
                                    self.epoch_reporter(p.epochs))
        self.model_ = model.eval()
        return self

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        if self.model_ is None:
            raise DetectorError("unet: call fit before score")
        images = check_images(images)
        height, width = images.shape[1:3]
        x = self._inputs(images)
        probabilities = []
        with torch.no_grad(), autocast(self.params.mixed_precision, self.device_):
            for start in range(0, len(x), self.params.batch_size):
                logits = self.model_(x[start:start + self.params.batch_size].to(self.device_))
                probabilities.append(torch.sigmoid(logits.float())[:, 0].cpu().numpy())
        maps = np.concatenate(probabilities).astype(np.float32)
        image_scores = np.array([self._image_score(m) for m in maps], np.float64)
        full = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR) for m in maps])
        return image_scores, full

    def _image_score(self, probability: np.ndarray) -> float:
        p = self.params
        smooth = cv2.GaussianBlur(probability, (0, 0), p.smoothing_sigma) if p.smoothing_sigma > 0 else probability
        if p.image_score == "max":
            return float(smooth.max())
        k = max(1, round(p.topk * smooth.size))
        return float(np.partition(smooth.ravel(), smooth.size - k)[-k:].mean())

    def _inputs(self, images: np.ndarray):
        import torch

        resized = np.stack([resize_square(image, self.params.image_size) for image in images]).astype(np.float32)
        return torch.from_numpy((resized / 255.0 - MEAN) / STD).permute(0, 3, 1, 2).contiguous()
