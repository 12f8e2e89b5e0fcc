"""``visa``: VisA (Visual Anomaly), split by its split file or, without one, by ``test_fraction``.

    root/split_csv/1cls.csv      columns object,split,label,image,mask (paths relative to root)
    root/<object>/Data/Images/{Normal,Anomaly}/*.JPG
    root/<object>/Data/Masks/Anomaly/<stem>.png

``label`` is ``normal`` or ``anomaly``; anomalies get the defect type ``anomaly`` (the split file
names no finer type). Masks hold region ids, so any non-zero pixel counts. Another split file of
the same columns (the few-shot ones put anomalies in train) is chosen with ``split_file``; with
``split_file: null`` the per-object folders are read directly: normals split evenly by
``test_fraction``, every anomaly in test. Keys are ``<object>/<split>/<good|anomaly>/<stem>``.
VisA's own objects are all objects; ``textures: [...]`` marks classes of a set in this layout as
surfaces (all foreground, no foreground estimate).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from pydantic import Field

from anomset.errors import SourceError
from anomset.registry import SOURCES
from anomset.sample import GOOD
from anomset.sources.base import SourceItem
from anomset.sources.layout import (
    Entry,
    FileSource,
    TexturesParams,
    even_split,
    find_mask,
    images_in,
    item_key,
    require_images,
)

ANOMALY = "anomaly"
COLUMNS = ("object", "split", "label", "image", "mask")
LABELS = {"normal": GOOD, "anomaly": ANOMALY}


class VisAParams(TexturesParams):
    split_file: str | None = Field(default="split_csv/1cls.csv",
                                   description="split csv relative to root; null: read the folders")
    test_fraction: float = Field(default=0.2, ge=0.0, lt=1.0, description="test normals when split_file is null")

    @classmethod
    def discover(cls, root: Path) -> list[str]:
        return [name for name in super().discover(root) if (root / name / "Data").is_dir()]


@SOURCES.register("visa")
class VisASource(FileSource):
    """VisA: 12 object classes with normals and masked anomalies, indexed by its split csv."""

    Params = VisAParams
    LAYOUT = "root/<object>/Data/Images/Normal/*.JPG"
    NONZERO_MASKS = True

    def scan(self, class_name: str) -> list[Entry]:
        if self.params.split_file is None:
            return self._scan_folders(class_name)
        entries = [self._entry(row, line) for line, row in self._rows if row["object"] == class_name]
        if not any(e.item.is_normal and e.item.split == "train" for e in entries):
            raise SourceError(f"no train normal rows for object {class_name!r}", file=str(self._csv_path()),
                              fix="check the split file, or choose another with split_file")
        return entries

    def _scan_folders(self, class_name: str) -> list[Entry]:
        data = self.root / class_name / "Data"
        normals = require_images(data / "Images" / "Normal", "Data/Images/Normal", self.LAYOUT)
        entries = [Entry(SourceItem(item_key(class_name, split, GOOD, p.stem), class_name, split), p)
                   for split, p in even_split(normals, self.params.test_fraction)]
        for image in images_in(data / "Images" / "Anomaly"):
            mask = find_mask([data / "Masks" / "Anomaly" / f"{image.stem}.png"], image)
            item = SourceItem(item_key(class_name, "test", ANOMALY, image.stem), class_name, "test", ANOMALY)
            entries.append(Entry(item, image, (mask,)))
        return entries

    def _csv_path(self) -> Path:
        return self.root / str(self.params.split_file)

    def _entry(self, row: dict[str, str], line: int) -> Entry:
        split, label = row["split"].strip(), row["label"].strip()
        if split not in ("train", "test") or label not in LABELS:
            raise SourceError(f"line {line}: split must be train/test and label normal/anomaly, got "
                              f"{split!r}/{label!r}", file=str(self._csv_path()))
        image = self.root / row["image"].strip()
        defect_type = LABELS[label]
        item = SourceItem(item_key(row["object"], split, defect_type, image.stem), row["object"], split,
                          defect_type)
        if defect_type == GOOD:
            return Entry(item, image)
        mask = (row["mask"] or "").strip()
        if not mask:
            raise SourceError(f"line {line}: anomaly {row['image']} has no mask path", file=str(self._csv_path()))
        return Entry(item, image, (find_mask([self.root / mask], image),))

    @functools.cached_property
    def _rows(self) -> list[tuple[int, dict[str, str]]]:
        path = self._csv_path()
        try:
            with open(path, newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise SourceError(f"split file lacks column(s) {', '.join(missing)}; expected "
                                      f"{','.join(COLUMNS)}", file=str(path))
                return [(n, row) for n, row in enumerate(reader, start=2)]
        except FileNotFoundError:
            raise SourceError("split file not found", file=str(path),
                              fix="point root at the VisA folder, or set split_file (null reads the folders)") from None
