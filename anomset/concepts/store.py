"""The clustering's files per class: ``clusters.json`` (cluster per real defect) and one contact sheet each."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from anomset.concepts.features import crop
from anomset.context import ShownDefect
from anomset.dataset.files import encode_png, write_atomic, write_json_atomic
from anomset.errors import OutputError

CLUSTERS_FILE = "clusters.json"
THUMB = 96  # contact-sheet cell side, pixels


def cluster_name(index: int) -> str:
    """The id a cluster is known by in files, prompts and sample json: ``c0``, ``c1``..."""
    return f"c{index}"


@dataclass(frozen=True)
class ClusterFile:
    """A class's saved clustering: cluster per shown defect key, the defects' types, and its hash."""

    class_name: str
    cluster_hash: str
    assignment: dict[str, str]  # shown defect key -> cluster id
    defect_types: dict[str, str]  # shown defect key -> defect type

    @property
    def clusters(self) -> list[str]:
        return sorted(set(self.assignment.values()), key=lambda c: int(c[1:]))

    def members(self, cluster: str) -> list[str]:
        return sorted(k for k, c in self.assignment.items() if c == cluster)


def contact_sheet(defects: list[ShownDefect], margin: float) -> np.ndarray:
    """Thumbnails of the defects' crops, mask outlined in red, on a near-square grid (uint8 RGB)."""
    columns = max(1, math.ceil(math.sqrt(len(defects))))
    rows = math.ceil(len(defects) / columns)
    sheet = np.full((rows * (THUMB + 4) + 4, columns * (THUMB + 4) + 4, 3), 255, np.uint8)
    for i, defect in enumerate(defects):
        image, mask = crop(defect, margin)
        thumb = cv2.resize(image, (THUMB, THUMB), interpolation=cv2.INTER_AREA).copy()
        small = cv2.resize(mask, (THUMB, THUMB), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours((small > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(thumb, contours, -1, (255, 0, 0), 1)
        r, c = divmod(i, columns)
        y, x = 4 + r * (THUMB + 4), 4 + c * (THUMB + 4)
        sheet[y:y + THUMB, x:x + THUMB] = thumb
    return sheet


def save_clusters(folder: Path, class_name: str, digest: str, defects: list[ShownDefect], labels: list[int],
                  margin: float, record: dict[str, Any]) -> list[Path]:
    """Write ``clusters.json`` and ``cluster-<id>.png`` per cluster into ``folder``; the paths written."""
    for old in folder.glob("cluster-*.png"):  # a new clustering may have fewer clusters
        old.unlink()
    written = []
    names = [cluster_name(label) for label in labels]
    for name in sorted(set(names), key=lambda c: int(c[1:])):
        members = [d for d, n in zip(defects, names, strict=True) if n == name]
        path = folder / f"cluster-{name}.png"
        write_atomic(path, encode_png(contact_sheet(members, margin), 3))
        written.append(path)
    data = {"class": class_name, "cluster_hash": digest,
            "assignment": {d.key: n for d, n in zip(defects, names, strict=True)},
            "defect_types": {d.key: d.defect_type for d in defects}, **record}
    write_json_atomic(folder / CLUSTERS_FILE, data)
    return [folder / CLUSTERS_FILE, *written]


def load_clusters(folder: Path, expected_hash: str | None = None) -> ClusterFile:
    """The saved clustering of one class; a missing or stale one is a one-line ``OutputError``."""
    path = folder / CLUSTERS_FILE
    if not path.is_file():
        raise OutputError("no clustering for this class", file=str(path), fix="run anomset cluster RECIPE first")
    data = json.loads(path.read_text(encoding="utf-8"))
    if expected_hash is not None and data.get("cluster_hash") != expected_hash:
        raise OutputError("the clustering was made for other defects or settings", file=str(path),
                          fix="rerun anomset cluster RECIPE (then anomset learn RECIPE)")
    return ClusterFile(data["class"], data["cluster_hash"], data["assignment"], data["defect_types"])
