"""What an evaluation reads: the dataset's train pool (a build folder or ``load_dataset``) and the real test set.

The train pool of a class is its train split (normals, real and synthetic anomalies, with each
sample's json) followed by the few-shot real defects (the shown share, read from the test source).
The real test set is every test item of the source except the shown ones. Images are brought to
one size (area interpolation; masks nearest) so the build's and the source's images match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from anomset.dataset.contract import JSON_MEMBER, MANIFEST, RECIPE_FILE
from anomset.dataset.reader import iter_built, iter_decoded, read_manifest, read_resolved
from anomset.errors import OutputError, SourceError
from anomset.evaluate.detectors.base import ImageSet, TestSet, TrainSet
from anomset.evaluate.protocols import ClassInfo, TrainRow
from anomset.sample import GOOD
from anomset.sources.base import Source, SourceItem


@dataclass
class Samples:
    """Images, masks and the per-sample json of one class and split, at the evaluation size."""

    images: np.ndarray
    masks: np.ndarray
    metas: list[dict[str, Any]]

    def subset(self, rows: np.ndarray) -> Samples:
        return Samples(self.images[rows], self.masks[rows], [self.metas[i] for i in rows])

    def image_set(self, cls: type[ImageSet] = TrainSet) -> ImageSet:
        """The samples as a detector's set, each sample's json kept (draem_split pairs an anomaly with its
        source normal by ``source_key``; resnet_cls reads ``cluster``)."""
        labels = np.array([int(m.get("label", m.get("defect_type", GOOD) != GOOD)) for m in self.metas], np.int64)
        return cls(self.images, self.masks, labels, [str(m.get("defect_type", GOOD)) for m in self.metas],
                   [str(m.get("key", "")) for m in self.metas], list(self.metas))


def resize_pair(image: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image (area) and mask (nearest, 0/255) at ``size`` = (height, width); a missing mask is all zero."""
    h, w = size
    if mask is None:
        mask = np.zeros(image.shape[:2], np.uint8)
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(image), np.where(mask > 0, 255, 0).astype(np.uint8)


def stack(pairs: Iterable[tuple[np.ndarray, np.ndarray, dict[str, Any]]], size: tuple[int, int]) -> Samples:
    images, masks, metas = [], [], []
    for image, mask, meta in pairs:
        image, mask = resize_pair(image, mask, size)
        images.append(image)
        masks.append(mask)
        metas.append(meta)
    h, w = size
    if not images:
        return Samples(np.zeros((0, h, w, 3), np.uint8), np.zeros((0, h, w), np.uint8), [])
    return Samples(np.stack(images), np.stack(masks), metas)


class Dataset:
    """The dataset trained on: its identity, classes and per-class samples."""

    data_hash: str = ""
    recipe_hash: str = ""
    repo: str = ""
    revision: str = ""
    image_size: tuple[int, int] = (256, 256)
    shown: dict[str, list[str]]

    def classes(self) -> list[str]:
        raise NotImplementedError

    def metas(self, class_name: str, split: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def samples(self, class_name: str, split: str, size: tuple[int, int]) -> Samples:
        raise NotImplementedError


class BuiltDataset(Dataset):
    """An anomset build folder, read through its manifest."""

    def __init__(self, folder: Path, file: str) -> None:
        if not (folder / MANIFEST).is_file() or not (folder / RECIPE_FILE).is_file():
            what = "does not exist" if not folder.exists() else "is not an anomset build (no manifest.json/recipe.yaml)"
            raise OutputError(f"{folder} {what}", file=file, field="dataset",
                              fix="point dataset: at a folder written by anomset build")
        self.folder = folder
        self.manifest = read_manifest(folder)
        resolved = read_resolved(folder)
        self.data_hash = self.manifest.get("data_hash", "")
        self.recipe_hash = self.manifest.get("recipe_hash", "")
        self.repo = (resolved.get("hub") or {}).get("repo") or ""
        size = (resolved.get("output") or {}).get("image_size") or [256, 256]
        self.image_size = (int(size[0]), int(size[1]))
        self.shown = self.manifest.get("shown_defects") or {}

    def classes(self) -> list[str]:
        return sorted(self.manifest.get("counts", {}))

    def _shards(self, class_name: str, split: str) -> dict[str, Any]:
        shards = [s for s in self.manifest["shards"] if s["class"] == class_name and s["split"] == split]
        return {**self.manifest, "shards": shards}

    def metas(self, class_name: str, split: str) -> list[dict[str, Any]]:
        import json

        return [json.loads(m[JSON_MEMBER]) for _, _, m in
                iter_built(self.folder, self._shards(class_name, split), (JSON_MEMBER,))]

    def samples(self, class_name: str, split: str, size: tuple[int, int]) -> Samples:
        return stack(iter_decoded(self.folder, self._shards(class_name, split)), size)


class PublishedDataset(Dataset):
    """A published anomset dataset read with ``datasets.load_dataset`` (a Hub id or a folder it reads)."""

    def __init__(self, repo: str, revision: str | None, file: str) -> None:
        self.repo, self.revision, self.file = repo, revision or "", file
        self._cache: dict[tuple[str, str], Any] = {}
        all_train = self._split("all", "train")
        self._classes = sorted({row["class"] for row in all_train["json"]})
        hashes = {row.get("data_hash", "") for row in all_train["json"]}
        self.data_hash = next(iter(hashes)) if len(hashes) == 1 else ""
        self.recipe_hash = self._recipe_hash()
        first = all_train[0]["image.png"]
        self.image_size = (first.height, first.width)
        self.shown = {}

    def _split(self, config: str, split: str) -> Any:
        if (config, split) not in self._cache:
            from datasets import load_dataset

            try:
                self._cache[(config, split)] = load_dataset(self.repo, config, split=split,
                                                            revision=self.revision or None)
            except Exception as exc:  # datasets raises many types (not found, offline, bad config)
                if split == "test" and "split" in str(exc).lower():
                    self._cache[(config, split)] = None
                else:
                    raise SourceError(f"cannot load {self.repo} ({config}, {split}): "
                                      f"{str(exc).splitlines()[0][:200]}", file=self.file, field="dataset.hub",
                                      fix="check the id, revision, network or HF_ENDPOINT") from None
        return self._cache[(config, split)]

    def _recipe_hash(self) -> str:
        folder = Path(self.repo)
        text = ""
        if folder.is_dir() and (folder / RECIPE_FILE).is_file():
            text = (folder / RECIPE_FILE).read_text(encoding="utf-8")
        else:
            try:
                from huggingface_hub import hf_hub_download

                text = Path(hf_hub_download(self.repo, RECIPE_FILE, repo_type="dataset",
                                            revision=self.revision or None)).read_text(encoding="utf-8")
            except Exception:  # the recipe hash is provenance only; the data hash still identifies the data
                return ""
        first = text.splitlines()[0] if text else ""
        return first.rsplit("recipe_hash: ", 1)[-1].strip() if "recipe_hash: " in first else ""

    def classes(self) -> list[str]:
        return list(self._classes)

    def metas(self, class_name: str, split: str) -> list[dict[str, Any]]:
        table = self._split(class_name, split)
        return [] if table is None else list(table["json"])

    def samples(self, class_name: str, split: str, size: tuple[int, int]) -> Samples:
        table = self._split(class_name, split)
        if table is None:
            return stack([], size)
        rows = ((np.asarray(r["image.png"].convert("RGB"), np.uint8), np.asarray(r["mask.png"].convert("L")),
                 r["json"]) for r in table)
        return stack(rows, size)


def open_dataset(spec: Any, file: str) -> Dataset:
    """The eval recipe's ``dataset``: a folder string or a ``HubDataset`` spec of the recipe."""
    if isinstance(spec, str):
        return BuiltDataset(Path(spec), file)
    return PublishedDataset(spec.hub, spec.revision, file)


def class_info(name: str, train_metas: list[dict[str, Any]], shown: int,
               test_metas: list[dict[str, Any]]) -> ClassInfo:
    """The protocols' view of one class: its train rows, then ``shown`` few-shot real defects."""
    rows = [TrainRow(int(m.get("defect_type", GOOD) != GOOD), str(m.get("origin", "")), str(m.get("generator", "")))
            for m in train_metas]
    rows += [TrainRow(1, "shown", "")] * shown
    held: dict[str, int] = {}
    for m in test_metas:
        if m.get("origin") == "synthetic" and m.get("defect_type", GOOD) != GOOD:
            held[m.get("generator", "")] = held.get(m.get("generator", ""), 0) + 1
    return ClassInfo(name, tuple(rows), held)


@dataclass
class RealTest:
    """The scored real test set of one class, and the few-shot real defects that are never scored."""

    scored: list[SourceItem]
    shown: list[SourceItem]


def split_real(source: Source, class_name: str, excluded: set[str]) -> RealTest:
    """The source's test items of a class: the shown ones (``excluded``) apart, in key order."""
    items = [i for i in source.items(class_name) if i.split == "test"]
    return RealTest([i for i in items if i.key not in excluded], [i for i in items if i.key in excluded])


def load_items(source: Source, items: list[SourceItem], size: tuple[int, int]) -> tuple[Samples, bool]:
    """The items' pixels at ``size``; and whether every defect came with a mask."""
    pairs, masked = [], True
    for item in items:
        loaded = source.load(item)
        if not item.is_normal and loaded.mask is None:
            masked = False
        pairs.append((loaded.image, loaded.mask, {"key": item.key, "defect_type": item.defect_type,
                                                   "origin": "real" if not item.is_normal else "normal"}))
    return stack(pairs, size), masked


def as_test_set(samples: Samples) -> TestSet:
    return samples.image_set(TestSet)  # type: ignore[return-value]


def testset_fingerprint(source_type: str, source: Source, scored: dict[str, list[str]], size: tuple[int, int]) -> str:
    """sha256 of what the real test set is: source type and fingerprint, scored keys per class, image size."""
    text = "\n".join([source_type, source.fingerprint(), f"{size[0]}x{size[1]}",
                      *(f"{c}:{k}" for c in sorted(scored) for k in scored[c])])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

