"""The reference-detector contract (scikit-learn style) and the in-memory image sets it trains and scores on.

A detector's constructor only validates and stores its params (the eval recipe's ``params:``);
``fit(train)`` learns and returns the detector; ``score(images)`` gives one score per image and one
H×W map per image, both higher for more anomalous. Randomness comes from the ``seed`` param.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from anomset.configurable import Configurable
from anomset.dataset.reader import iter_decoded, read_manifest
from anomset.errors import AnomsetError
from anomset.sample import GOOD


class DetectorError(AnomsetError):
    """A detector cannot be trained or used on the data it was given."""


@dataclass
class ImageSet:
    """N images (uint8 N×H×W×3 RGB) with masks (uint8 N×H×W, non-zero = anomalous), 0/1 labels,
    defect types (``good`` for normals), keys and, when known, each sample's json (``metas``)."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    defect_types: list[str]
    keys: list[str]
    metas: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images)
        self.masks = np.asarray(self.masks)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        n = len(self.images)
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(f"images must be uint8 N×H×W×3, got {self.images.dtype} {self.images.shape}")
        if self.masks.shape != self.images.shape[:3]:
            raise ValueError(f"masks must be N×H×W {self.images.shape[:3]}, got {self.masks.shape}")
        if self.labels.shape != (n,) or not np.isin(self.labels, (0, 1)).all():
            raise ValueError(f"labels must be {n} values of 0 or 1")
        if len(self.defect_types) != n or len(self.keys) != n:
            raise ValueError(f"defect_types and keys must have {n} entries each")
        if self.metas is not None and len(self.metas) != n:
            raise ValueError(f"metas must have {n} entries")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def anomalies(self) -> int:
        return int(self.labels.sum())

    def meta_field(self, name: str, default: Any = "") -> list[Any]:
        """One json field of every sample (``default`` where a sample, or the whole set, has none)."""
        if self.metas is None:
            return [default] * len(self)
        return [meta.get(name, default) for meta in self.metas]

    @classmethod
    def from_samples(cls, samples: Iterable[tuple[np.ndarray, np.ndarray, dict[str, Any]]]) -> ImageSet:
        """From ``(image, mask, json)`` triples, as ``anomset.dataset.reader.iter_decoded`` yields them."""
        images, masks, metas = [], [], []
        for image, mask, meta in samples:
            images.append(image)
            masks.append(mask)
            metas.append(meta)
        if not images:
            raise DetectorError("no samples to make an image set of")
        sizes = {image.shape for image in images}
        if len(sizes) > 1:
            raise DetectorError(f"images of an image set must share one size, got {sorted(sizes)}")
        types = [str(meta.get("defect_type", GOOD)) for meta in metas]
        return cls(np.stack(images), np.stack(masks), np.array([t != GOOD for t in types], np.int64), types,
                   [str(meta.get("key", "")) for meta in metas], metas)

    @classmethod
    def from_built(cls, out_dir: Path | str, class_name: str, split: str) -> ImageSet:
        """One class and split of a built folder (read through the dataset's manifest)."""
        manifest = read_manifest(out_dir)
        if class_name not in manifest.get("counts", {}):
            raise DetectorError(f"the build has no class {class_name!r}; it has: {', '.join(manifest['counts'])}",
                                file=str(out_dir))
        shards = [s for s in manifest["shards"] if s["class"] == class_name and s["split"] == split]
        if not shards:
            raise DetectorError(f"class {class_name!r} has no {split} samples", file=str(out_dir))
        return cls.from_samples(iter_decoded(out_dir, {**manifest, "shards": shards}))


class TrainSet(ImageSet):
    """What a detector is fitted on (a build's train split)."""


class TestSet(ImageSet):
    """What a detector is scored on (real images with their ground truth)."""

    __test__ = False  # not a pytest test class


class Detector(Configurable):
    """A reference detector: ``fit(train) -> self``, ``score(images) -> (image_scores, pixel_maps)``."""

    SUPERVISED: ClassVar[bool] = False  # needs anomalies (with masks) in the training set
    # Where ``fit`` says how training goes (one line per epoch); the eval runner shows it on its bar.
    progress: Callable[[str], None] | None = None

    def report(self, message: str) -> None:
        """Tell ``progress`` (when set) how training goes: never changes what is learned."""
        if self.progress is not None:
            self.progress(message)

    def epoch_reporter(self, epochs: int) -> Callable[[int, float], None]:
        """A ``train_epochs`` callback that reports ``epoch e/epochs, loss x``."""
        return lambda epoch, loss: self.report(f"epoch {epoch}/{epochs}, loss {loss:.4f}")

    def fit(self, train: TrainSet) -> Detector:
        """Learn from ``train`` and return ``self``."""
        raise NotImplementedError

    def score(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N,) float64`` image scores and ``N×H×W float32`` maps for uint8 ``N×H×W×3`` images."""
        raise NotImplementedError

    def check_train(self, train: TrainSet) -> None:
        """Refuse a training set this detector cannot learn from."""
        if len(train) == 0:
            raise DetectorError(f"{self.registry_name}: empty training set")
        if self.SUPERVISED and train.anomalies == 0:
            raise DetectorError(f"{self.registry_name} is supervised but the training set has no anomalies",
                                fix="train it on a build with anomalies in its train split")
        if not self.SUPERVISED and train.anomalies == len(train):
            raise DetectorError(f"{self.registry_name} learns normals but the training set has none")


def check_images(images: np.ndarray) -> np.ndarray:
    """uint8 N×H×W×3 images, or a ``ValueError``."""
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] != 3 or len(array) == 0:
        raise ValueError(f"images must be a non-empty uint8 N×H×W×3 array, got {array.dtype} {array.shape}")
    return array


def resolve_device(requested: str) -> str:
    """``auto`` is the GPU when there is one, else the CPU; anything else is passed to torch as is."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise DetectorError(f"device {requested!r} asked for but no GPU is available", fix="use device: auto or cpu")
    return requested
