"""Export a built folder in the MVTec AD layout, for the tools users already run (anomalib, research code).

    DIR/<class>/train/good/<key>.png                          train normals
    DIR/<class>/test/good/<key>.png                           test normals
    DIR/<class>/test/<defect_type>/<key>.png                  test anomalies (real and synthetic)
    DIR/<class>/ground_truth/<defect_type>/<key>_mask.png     their masks
    DIR/<class>/train/<defect_type>/<key>.png                 train anomalies (MVTec AD has none)
    DIR/<class>/train_ground_truth/<defect_type>/<key>_mask.png
    DIR/samples.jsonl                                         one line per sample: paths, label, its json
    DIR/anomset_export.json                                   what was exported (marks the folder as ours)

Train anomalies get a mask folder of their own: MVTec readers (and anomalib's ``Folder``) pair the
images of ``test/<type>`` with every file of ``ground_truth/<type>``, so train masks there would
break them. Images and masks are the shards' PNG bytes, copied: pixel-identical to the build. The
export is written to a hidden sibling folder and renamed into place, so DIR is never half written.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anomset.dataset.contract import IMAGE_MEMBER, JSON_MEMBER, LABEL_MEMBER, MASK_MEMBER
from anomset.dataset.reader import decode_json, iter_built, read_manifest
from anomset.errors import OutputError
from anomset.sample import GOOD

FORMATS = ("mvtec",)
MARKER = "anomset_export.json"
SIDECAR = "samples.jsonl"
TRAIN_MASKS = "train_ground_truth"
MEMBERS = (IMAGE_MEMBER, MASK_MEMBER, LABEL_MEMBER, JSON_MEMBER)


@dataclass
class ExportResult:
    """Where the export went and how many samples of each (class, split, folder) it holds."""

    target: Path
    samples: int = 0
    counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)


def export_mvtec(out_dir: Path | str, target: Path | str) -> ExportResult:
    """Write the built ``out_dir`` to ``target`` in the MVTec AD layout (replaces an earlier export there)."""
    out, given = Path(out_dir), Path(target)
    manifest = read_manifest(out)
    _check_target(out, given)
    target = given.resolve()
    partial = target.parent / f".{target.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # left by an export that was killed
    partial.mkdir(parents=True)
    result = ExportResult(given)
    try:
        with open(partial / SIDECAR, "w", encoding="utf-8") as sidecar:
            for shard, key, members in iter_built(out, manifest, MEMBERS):
                row = _write_sample(partial, shard, key, members)
                sidecar.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
                result.samples += 1
                result.counts[(row["class"], row["split"], Path(row["image_path"]).parent.name)] += 1
        marker = {"format": "mvtec", "name": manifest.get("name", ""), "version": manifest.get("version", ""),
                  "data_hash": manifest.get("data_hash", ""), "recipe_hash": manifest.get("recipe_hash", ""),
                  "samples": result.samples, "sidecar": SIDECAR, "train_masks": TRAIN_MASKS}
        (partial / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        _swap_in(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return result


def _check_target(out: Path, target: Path) -> None:
    """Refuse a target that is a file, holds the build, or is a non-empty folder another tool made."""
    resolved, build = target.resolve(), out.resolve()
    if resolved == build or resolved in build.parents or build in resolved.parents:
        raise OutputError("the export folder and the build would overlap", file=str(target),
                          fix="choose a folder outside the build")
    if target.exists() and not target.is_dir():
        raise OutputError("not a folder", file=str(target), fix="choose a new or empty folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise OutputError("folder is not empty and is not an anomset export; refusing to replace it",
                          file=str(target), fix="choose a new or empty folder")


def _swap_in(partial: Path, target: Path) -> None:
    """Rename the finished export into place; an earlier export (or an empty folder) there is removed."""
    if not target.exists():
        partial.rename(target)
        return
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    target.rename(old)
    partial.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _write_sample(root: Path, shard: Path, key: str, members: dict[str, bytes]) -> dict[str, Any]:
    meta = decode_json(members, shard, key)
    class_name, split = str(meta.get("class", "")), str(meta.get("split", ""))
    try:
        label = int(members.get(LABEL_MEMBER, b"").decode("ascii").strip())
    except ValueError:
        raise OutputError(f"sample {key} has no readable label (.cls)", file=str(shard)) from None
    folder = GOOD if label == 0 else str(meta.get("defect_type", ""))
    if split not in ("train", "test"):
        raise OutputError(f"sample {key} has split {split!r}; expected train or test", file=str(shard))
    for what, name in (("class", class_name), ("defect_type", folder)):
        if not _safe_name(name) or (what == "defect_type" and label == 1 and name == GOOD):
            raise OutputError(f"sample {key} has {what} {name!r}, which cannot name a folder", file=str(shard))
    if not members.get(IMAGE_MEMBER) or not members.get(MASK_MEMBER):
        raise OutputError(f"sample {key} lacks its image or mask member", file=str(shard),
                          fix="rerun anomset build to rewrite the shard")
    image = Path(class_name) / split / folder / f"{key}.png"
    _write(root / image, members[IMAGE_MEMBER])
    mask = ""
    if label == 1:
        masks = "ground_truth" if split == "test" else TRAIN_MASKS
        mask = (Path(class_name) / masks / folder / f"{key}_mask.png").as_posix()
        _write(root / mask, members[MASK_MEMBER])
    return {**meta, "image_path": image.as_posix(), "mask_path": mask, "label": label}


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name
