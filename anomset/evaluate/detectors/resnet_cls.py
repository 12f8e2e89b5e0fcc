"""``resnet_cls``: a ResNet-34 defect-type classifier trained on the synthetic anomalies (GAA Table 3).

Classes are the anomalies' ``defect_type`` (or their ``cluster``), plus ``good`` for the training
normals when there are any. The network is transformers' ``ResNetModel`` (``ResNetConfig`` with
ResNet-34's basic blocks and depths, random init; or ``from_pretrained`` with a Hub id or folder) and
a linear head on its pooled features; never torchvision. ``classify`` gives the most likely defect
type (``good`` excluded: it answers "which defect" for images known to be defective); the image score
is ``1 − p(good)``; the map is the class activation map read as a local classifier — the head applied
at every cell of the last feature map (whose mean is the image's logits), ``1 − softmax(...)_good``,
resized back to the input. A fixed schedule; plain cross-entropy (class-balanced on request); seeded;
bf16 on a GPU.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from anomset.configurable import StrictModel
from anomset.evaluate.detectors.base import Detector, DetectorError, TrainSet, check_images, resolve_device
from anomset.evaluate.detectors.training import autocast, flip_dims, train_epochs
from anomset.features.params import BackboneReference
from anomset.registry import DETECTORS
from anomset.sample import GOOD


class ResNetClsParams(StrictModel):
    backbone: BackboneReference | None = Field(default=None,
                                               description="Hub id or folder to start from; none = random init")
    revision: str | None = Field(default=None, description="Hub revision (branch, tag or commit)")
    depths: list[int] = Field(default_factory=lambda: [3, 4, 6, 3], min_length=1, max_length=8,
                              description="blocks per stage of a random-init network (ResNet-34's)")
    widths: list[int] = Field(default_factory=lambda: [64, 128, 256, 512], min_length=1, max_length=8,
                              description="channels per stage of a random-init network")
    label_by: Literal["defect_type", "cluster"] = Field(default="defect_type", description="what the classes are")
    include_normals: bool = Field(default=True, description="train a 'good' class on the normals (image scores)")
    image_size: int = Field(default=224, ge=16, le=2048)
    epochs: int = Field(default=30, ge=1, le=10000)
    batch_size: int = Field(default=16, ge=1, le=1024)
    lr: float = Field(default=1e-3, gt=0, le=1)
    weight_decay: float = Field(default=1e-4, ge=0, le=1)
    # Off by default, as in the papers' classifier: inverse frequency gives the few-shot real defect types
    # (2 images each at 1/3 of 6) ~30x a normal's weight, and those few images then dominate the loss.
    balanced: bool = Field(default=False, description="weight the loss by inverse class frequency")
    flips: bool = Field(default=True, description="random horizontal and vertical flips while training")
    seed: int = Field(default=0, ge=0)
    device: str = Field(default="auto", description="auto (GPU when present), cpu, cuda, cuda:N")
    mixed_precision: bool = Field(default=True, description="bf16 autocast on a GPU (never on the CPU)")

    @field_validator("depths", "widths")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v < 1 for v in value):
            raise ValueError(f"every entry must be >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _one_width_per_stage(self) -> ResNetClsParams:
        if len(self.depths) != len(self.widths):
            raise ValueError(f"depths has {len(self.depths)} stages but widths {len(self.widths)}: give one width each")
        return self


@DETECTORS.register("resnet_cls")
class ResNetClassifier(Detector):
    """ResNet-34 defect-type classifier on the synthetic anomalies; classify(), 1 − p(good) scores, CAM maps."""

    Params = ResNetClsParams
    SUPERVISED = True

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.model_: Any = None
        self.head_: Any = None
        self.classes_: list[str] = []
        self.device_ = ""
        self.losses_: list[float] = []
        self._mean: Any = None
        self._std: Any = None

    # ---- data ---------------------------------------------------------------------------------
    def _labels(self, train: TrainSet) -> list[str]:
        if self.params.label_by == "defect_type":
            return list(train.defect_types)
        clusters = [str(c) for c in train.meta_field("cluster", "")]
        missing = [key for key, c, y in zip(train.keys, clusters, train.labels, strict=True) if y and not c]
        if missing:
            raise DetectorError(f"resnet_cls: label_by cluster but {len(missing)} anomalies have no cluster "
                                f"(first: {missing[0]})", fix="use label_by: defect_type, or a build with clusters")
        return [c if y else GOOD for c, y in zip(clusters, train.labels, strict=True)]

    def _inputs(self, images: np.ndarray) -> Any:
        from anomset.features.backbone import to_pixel_values

        size = (self.params.image_size, self.params.image_size)
        return to_pixel_values(images, size, self._mean, self._std).cpu()

    # ---- the network --------------------------------------------------------------------------
    def _build(self, classes: int) -> None:
        import torch

        from anomset.features.loading import IMAGENET_MEAN, IMAGENET_STD, load_model, normalisation, parse_reference

        p = self.params
        with torch.random.fork_rng(devices=[]):  # the seed decides the weights; the global state is restored
            torch.manual_seed(p.seed)
            if p.backbone is None:
                from transformers import ResNetConfig, ResNetModel

                config = ResNetConfig(num_channels=3, embedding_size=p.widths[0], hidden_sizes=list(p.widths),
                                      depths=list(p.depths), layer_type="basic")
                model = ResNetModel(config)
                mean, std = IMAGENET_MEAN, IMAGENET_STD
            else:
                ref = parse_reference(p.backbone, p.revision)
                model = load_model(ref, field="resnet_cls.backbone").requires_grad_(True)
                mean, std, _ = normalisation(ref)
            model.eval()
            with torch.no_grad():
                probe = model(pixel_values=torch.zeros(1, 3, 32, 32)).last_hidden_state
            if probe.ndim != 4:
                raise DetectorError(f"resnet_cls: {p.backbone} gives no feature map (got {tuple(probe.shape)})",
                                    field="params.backbone", fix="use a ResNet (or another convolutional) model")
            head = torch.nn.Linear(probe.shape[1], classes)
        self.model_ = model.to(self.device_)
        self.head_ = head.to(self.device_)
        self._mean = torch.tensor(mean, dtype=torch.float32, device=self.device_)
        self._std = torch.tensor(std, dtype=torch.float32, device=self.device_)

    def _local_logits(self, x: Any) -> Any:
        """Head applied at every cell of the last feature map: ``B×K×h×w`` (their mean is the image logits)."""
        import torch

        features = self.model_(pixel_values=x).last_hidden_state
        return torch.einsum("bchw,kc->bkhw", features.float(), self.head_.weight) + self.head_.bias[None, :, None, None]

    def fit(self, train: TrainSet) -> ResNetClassifier:
        import torch
        import torch.nn.functional as F

        self.check_train(train)
        p = self.params
        labels = self._labels(train)
        keep = np.array([label != GOOD or p.include_normals for label in labels])
        names = sorted({label for label, k in zip(labels, keep, strict=True) if k and label != GOOD})
        self.classes_ = ([GOOD] if p.include_normals and GOOD in labels else []) + names
        targets = torch.tensor([self.classes_.index(label) for label, k in zip(labels, keep, strict=True) if k])
        self.device_ = resolve_device(p.device)
        self._build(len(self.classes_))
        images = self._inputs(train.images[keep])
        counts = torch.bincount(targets, minlength=len(self.classes_)).float()
        weight = (counts.sum() / (len(counts) * counts)).to(self.device_) if p.balanced else None
        parameters = list(self.model_.parameters()) + list(self.head_.parameters())
        optimizer = torch.optim.AdamW(parameters, lr=p.lr, weight_decay=p.weight_decay)
        rng = np.random.default_rng(p.seed)

        def batch_loss(batch: np.ndarray) -> torch.Tensor:
            x = images[batch]
            if p.flips and (dims := flip_dims(rng)):
                x = x.flip(dims)
            with autocast(p.mixed_precision, self.device_):
                logits = self._local_logits(x.to(self.device_)).mean((2, 3))
            return F.cross_entropy(logits.float(), targets[batch].to(self.device_), weight=weight)

        self.model_.train()
        self.losses_ = train_epochs(optimizer, rng, len(targets), p.batch_size, p.epochs, batch_loss,
                                    self.epoch_reporter(p.epochs))
        self.model_.eval()
        return self

    # ---- inference ----------------------------------------------------------------------------
    def _local_probabilities(self, images: np.ndarray) -> Any:
        """Per-cell class probabilities ``N×K×h×w`` and image probabilities ``N×K`` (softmax of mean logits)."""
        import torch

        if self.model_ is None:
            raise DetectorError(f"{self.registry_name}: call fit before score or classify")
        x = self._inputs(check_images(images))
        local, overall = [], []
        with torch.no_grad(), autocast(self.params.mixed_precision, self.device_):
            for start in range(0, len(x), self.params.batch_size):
                logits = self._local_logits(x[start:start + self.params.batch_size].to(self.device_)).float()
                local.append(logits.softmax(1).cpu())
                overall.append(logits.mean((2, 3)).softmax(1).cpu())
        return torch.cat(local), torch.cat(overall)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """``N×K`` class probabilities, columns in ``classes_`` order."""
        return self._local_probabilities(images)[1].double().numpy()

    def classify(self, images: np.ndarray) -> list[str]:
        """The most likely defect type (or cluster) of each image; ``good`` is never answered."""
        probabilities = self.predict_proba(images)
        defects = [i for i, name in enumerate(self.classes_) if name != GOOD]
        return [self.classes_[defects[i]] for i in probabilities[:, defects].argmax(1)]

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch.nn.functional as F

        if self.model_ is not None and GOOD not in self.classes_:
            raise DetectorError("resnet_cls was trained without a 'good' class, so it has no anomaly scores",
                                fix="train with include_normals: true on a set with normals (classify still works)")
        local, overall = self._local_probabilities(images)
        height, width = np.asarray(images).shape[1:3]
        maps = F.interpolate(1 - local[:, :1], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
        return (1 - overall[:, 0]).double().numpy(), maps.numpy().astype(np.float32)
