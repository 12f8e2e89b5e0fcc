"""``hf``: a ``load_dataset`` repo as input, so one anomset dataset can seed another.

Reads anomset's columns (``image.png``, ``mask.png``, ``cls``, ``json``) from a Hub id or a local
folder. Normals and real defects become source items (class from the json, split from the dataset
split); synthetic samples are skipped unless ``include_synthetic`` is set, in which case they count as
real defects of their defect type.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from anomset.configurable import StrictModel
from anomset.errors import SourceError
from anomset.recipe.licenses import check_license
from anomset.registry import SOURCES
from anomset.sample import GOOD
from anomset.sources.base import LoadedItem, Source, SourceItem

COLUMNS = ("__key__", "image.png", "mask.png", "cls", "json")


class HfParams(StrictModel):
    repo: str = Field(description="Hub dataset id (org/name) or a local folder")
    revision: str | None = Field(default=None, description="tag, branch or commit; use a version tag")
    configs: list[str] = Field(default_factory=list, description="configs to read; empty: the default one")
    splits: list[str] = Field(default_factory=lambda: ["train", "test"])
    include_synthetic: bool = False
    textures: list[str] = Field(default_factory=list, description="classes that are textures (all foreground)")
    license: str = Field(default="", description="the source data's license (a Hub licence id), recorded in the card")

    @field_validator("license")
    @classmethod
    def _hub_license(cls, value: str) -> str:
        return check_license(value) if value else value


@SOURCES.register("hf")
class HfSource(Source):
    """A datasets repo (Hub id or local folder) in anomset's layout: its normals and real defects."""

    Params = HfParams

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._index: dict[str, list[SourceItem]] | None = None
        self._where: dict[str, tuple[Any, int]] = {}

    def _load_index(self) -> dict[str, list[SourceItem]]:
        if self._index is not None:
            return self._index
        index: dict[str, list[SourceItem]] = {}
        seen: set[str] = set()
        for config in self.params.configs or [None]:
            dataset = self._open(config)
            for split in self.params.splits:
                if split not in dataset:
                    continue
                table = dataset[split]
                missing = [c for c in COLUMNS if c not in table.column_names]
                if missing:
                    raise SourceError(f"{self.params.repo} lacks anomset column(s) {missing}; has {table.column_names}",
                                      fix="point the hf source at an anomset dataset")
                rows = table.select_columns(["__key__", "cls", "json"])
                for i, row in enumerate(rows):
                    item = self._item(row, split)
                    if item is not None and item.key not in seen:
                        seen.add(item.key)
                        self._where[item.key] = (table, i)
                        index.setdefault(item.class_name, []).append(item)
        self._index = {k: sorted(v, key=lambda item: item.key) for k, v in sorted(index.items())}
        return self._index

    def _item(self, row: dict[str, Any], split: str) -> SourceItem | None:
        meta = row["json"]
        origin = meta.get("origin", "")
        if origin not in ("normal", "real") and not self.params.include_synthetic:
            return None
        defect = GOOD if int(row["cls"]) == 0 else meta.get("defect_type") or "defect"
        cls = meta["class"]
        return SourceItem(f"{cls}/{split}/{defect}/{row['__key__']}", cls, split, defect)

    def _open(self, config: str | None) -> Any:
        from datasets import load_dataset

        try:
            return load_dataset(self.params.repo, config, revision=self.params.revision)
        except Exception as exc:  # datasets raises many types (not found, bad config, offline); all are input errors
            raise SourceError(f"cannot load {self.params.repo}"
                              f"{'@' + self.params.revision if self.params.revision else ''}"
                              f"{' config ' + config if config else ''}: {str(exc).splitlines()[0][:200]}",
                              fix="check repo, revision and configs (and network or HF_ENDPOINT)") from None

    def classes(self) -> list[str]:
        return sorted(self._load_index())

    def items(self, class_name: str) -> list[SourceItem]:
        index = self._load_index()
        if class_name not in index:
            raise SourceError(f"{self.params.repo} has no class {class_name!r}; it has {', '.join(index)}")
        return index[class_name]

    def load(self, item: SourceItem) -> LoadedItem:
        self._load_index()
        table, i = self._where[item.key]
        row = table[i]
        image = np.asarray(row["image.png"].convert("RGB"), dtype=np.uint8)
        mask = None
        if not item.is_normal:
            mask = np.where(np.asarray(row["mask.png"].convert("L")) > 127, 255, 0).astype(np.uint8)
        return LoadedItem(np.ascontiguousarray(image), mask)

    def is_texture(self, class_name: str) -> bool:
        return class_name in self.params.textures

    def fingerprint(self) -> str:
        keys = "\n".join(k for items in self._load_index().values() for k in (i.key for i in items))
        digest = hashlib.sha256(keys.encode()).hexdigest()[:16]
        return f"hf:{self.params.repo}@{self.params.revision or 'default'}:{digest}"
