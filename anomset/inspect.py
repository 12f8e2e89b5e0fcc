"""``anomset inspect``: what a built folder holds, read from its shards, checked against manifest.json."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anomset.dataset.contract import IMAGE_MEMBER, JSON_MEMBER, LABEL_MEMBER, MASK_MEMBER, PARTIAL_SUFFIX
from anomset.dataset.files import file_sha256
from anomset.dataset.reader import decode_json, iter_tar, read_manifest
from anomset.errors import OutputError
from anomset.sample import generator_label

MEMBERS = frozenset({IMAGE_MEMBER, MASK_MEMBER, LABEL_MEMBER, JSON_MEMBER})


@dataclass
class Inspection:
    """Counts tallied from the shards' json, and what was checked."""

    name: str
    version: str
    recipe_hash: str
    shards: int
    verified: bool  # sha256 checked (sizes and sample counts always are)
    # (class, split, defect_type, generator or origin, label) -> samples
    counts: Counter[tuple[str, str, str, str, int]] = field(default_factory=Counter)
    shards_by_split: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (class, generator or origin) -> mask areas of the anomalous samples
    areas: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(self.counts.values())


def inspect_output(out_dir: Path | str, verify: bool = True) -> Inspection:
    """Tally every shard's samples and check the shards against manifest.json.

    Raises ``OutputError`` naming the shard when one is missing, not listed, unreadable, or differs
    from the manifest in size, sha256 (``verify``) or sample count.
    """
    out = Path(out_dir)
    manifest = read_manifest(out)
    listed = {shard["path"]: shard for shard in manifest.get("shards", [])}
    _check_same_files(out, listed)
    result = Inspection(manifest.get("name", "?"), str(manifest.get("version", "?")),
                        manifest.get("recipe_hash", ""), len(listed), verify)
    for relpath in sorted(listed):
        _check_shard(out / relpath, listed[relpath], verify, result)
    return result


def _check_same_files(out: Path, listed: dict[str, Any]) -> None:
    data = out / "data"
    on_disk = {p.relative_to(out).as_posix() for p in data.rglob("*") if p.is_file()} if data.is_dir() else set()
    for relpath in sorted(listed):
        if relpath not in on_disk:
            raise OutputError("shard listed in manifest.json is missing", file=str(out / relpath),
                              fix="rerun anomset build to restore it")
    for relpath in sorted(on_disk - set(listed)):
        what = "unfinished shard (a build was interrupted)" if relpath.endswith(PARTIAL_SUFFIX) else \
            "file not listed in manifest.json"
        raise OutputError(what, file=str(out / relpath), fix="rerun anomset build, or remove the file")


def _check_shard(path: Path, record: dict[str, Any], verify: bool, result: Inspection) -> None:
    size = path.stat().st_size
    if size != record["bytes"]:
        raise OutputError(f"shard is {size} bytes but manifest.json says {record['bytes']}", file=str(path),
                          fix="rerun anomset build to rewrite it")
    if verify and file_sha256(path) != record["sha256"]:
        raise OutputError("shard sha256 differs from manifest.json", file=str(path),
                          fix="rerun anomset build to rewrite it")
    samples = 0
    for key, parts in iter_tar(path, (JSON_MEMBER, LABEL_MEMBER)):
        if set(parts) != MEMBERS:
            raise OutputError(f"sample {key} has members {', '.join(sorted(parts))}; expected "
                              f"{', '.join(sorted(MEMBERS))}", file=str(path))
        meta = decode_json(parts, path, key)
        if (meta.get("class"), meta.get("split")) != (record["class"], record["split"]):
            raise OutputError(f"sample {key} is {meta.get('class')}/{meta.get('split')} in a "
                              f"{record['class']}/{record['split']} shard", file=str(path))
        generator = generator_label(meta.get("generator", ""), meta.get("origin", ""))
        label = int(parts[LABEL_MEMBER] or b"0")
        result.counts[(record["class"], record["split"], meta.get("defect_type", "?"), generator, label)] += 1
        if label:
            result.areas.setdefault((record["class"], generator), []).append(int(meta.get("mask_area", 0)))
        samples += 1
    if samples != record["samples"]:
        raise OutputError(f"shard holds {samples} samples but manifest.json says {record['samples']}",
                          file=str(path), fix="rerun anomset build to rewrite it")
    result.shards_by_split[(record["class"], record["split"])] += 1


def format_inspection(result: Inspection) -> str:
    """A readable report: totals per class and split, then per generator and per defect type."""
    by_split: dict[tuple[str, str], Counter[str]] = {}
    by_generator: Counter[tuple[str, str, str]] = Counter()
    by_defect: Counter[tuple[str, str, str]] = Counter()
    for (cls, split, defect, generator, label), n in result.counts.items():
        totals = by_split.setdefault((cls, split), Counter())
        totals["samples"] += n
        totals["anomalous" if label else "normal"] += n
        by_generator[(cls, split, generator)] += n
        by_defect[(cls, split, defect)] += n
    summary = [[cls, split, t["samples"], t["normal"], t["anomalous"], result.shards_by_split[(cls, split)]]
               for (cls, split), t in sorted(by_split.items())]
    summary.append(["total", "", result.samples, sum(r[3] for r in summary), sum(r[4] for r in summary),
                    result.shards])
    checked = "sizes, sha256 and sample counts" if result.verified else "sizes and sample counts; sha256 not checked"
    return "\n\n".join([
        f"{result.name} {result.version}  recipe_hash {result.recipe_hash[:12]}  "
        f"{result.shards} shards, {result.samples} samples",
        table(["class", "split", "samples", "normal", "anomalous", "shards"], summary),
        "by generator\n" + table(["class", "split", "generator", "samples"], _grouped(by_generator)),
        "by defect type\n" + table(["class", "split", "defect type", "samples"], _grouped(by_defect)),
        f"ok: {result.shards} shards match manifest.json ({checked})",
    ])


def shown_defect_areas(out_dir: Path | str) -> dict[str, list[int]]:
    """Mask areas, at the output size, of the real defects the build showed to generators, per class.

    They are not in the output (held out of its test split), so they are read again from the build's
    source as its ``recipe.yaml`` describes it; which ones were shown is the manifest's record.
    """
    import cv2

    from anomset.recipe.load import load_recipe

    out = Path(out_dir)
    shown = read_manifest(out).get("shown_defects", {})
    loaded = load_recipe(out / "recipe.yaml")
    source = loaded.components.source
    height, width = loaded.recipe.output.image_size
    areas = {}
    for name, keys in sorted(shown.items()):
        if not keys:
            continue
        wanted = set(keys)
        masks = [source.load(item).mask for item in source.items(name) if item.key in wanted]
        areas[name] = [int(np.count_nonzero(cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST)))
                       for m in masks if m is not None]
    return areas


def format_areas(result: Inspection, shown: dict[str, list[int]]) -> str:
    """Quantiles of the mask area (pixels) per class: the shown real defects, then each generator."""
    rows: list[list[Any]] = []
    for cls in sorted({c for c, _ in result.areas} | set(shown)):
        named = [("real shown", shown[cls])] if cls in shown else []
        named += sorted((g, a) for (c, g), a in result.areas.items() if c == cls)
        for i, (name, values) in enumerate(named):
            q = np.quantile(values, [0.0, 0.1, 0.5, 0.9, 1.0]) if values else [0] * 5
            rows.append([cls if i == 0 else "", name, len(values), *(int(np.rint(v)) for v in q)])
    return "mask area (pixels)\n" + table(["class", "generator", "n", "min", "p10", "median", "p90", "max"], rows)


def _grouped(counts: Counter[tuple[str, str, str]]) -> list[list[Any]]:
    """Rows sorted by (class, split, name), class and split shown only where they change."""
    rows: list[list[Any]] = []
    previous: tuple[str, str] | None = None
    for (cls, split, name), n in sorted(counts.items()):
        rows.append([cls if (cls, split) != previous else "", split if (cls, split) != previous else "", name, n])
        previous = (cls, split)
    return rows


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """Plain-text columns: text left-aligned, numbers right-aligned."""
    cells = [headers] + [[str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [bool(rows) and all(isinstance(row[i], int) for row in rows) for i in range(len(headers))]
    lines = []
    for row in cells:
        lines.append("  ".join(v.rjust(w) if num else v.ljust(w)
                               for v, w, num in zip(row, widths, numeric, strict=True)).rstrip())
    return "\n".join(lines)
