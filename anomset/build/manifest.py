"""manifest.json: every shard with its size and sha256, counts, versions, the data and recipe hashes,
the input fingerprints and the real defects shown to generators."""

from __future__ import annotations

import importlib.metadata
from collections import Counter, defaultdict
from typing import Any

from anomset import __version__

_VERSIONED = ("numpy", "torch", "opencv-python-headless", "datasets", "webdataset")


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide output bytes (read from metadata, nothing imported)."""
    versions = {"anomset": __version__}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def build_manifest(name: str, version: str, recipe_hash: str, source: dict[str, str],
                   records: list[dict[str, Any]], *, data_hash: str, locations: dict[str, str],
                   shown_defects: dict[str, list[str]]) -> dict[str, Any]:
    """The manifest from the shards' done-records (order-independent: records are sorted by path).

    ``data_hash`` is the dataset's identity (benchmarks refer to it), ``recipe_hash`` the whole
    recipe's; ``locations`` fingerprints the folders named by params (``texture_dir``);
    ``shown_defects`` lists, per class, the source keys of the real defects generators were shown
    (held out of the test split; the evaluation scores the others).
    """
    records = sorted(records, key=lambda r: r["path"])
    counts: dict[str, dict[str, Any]] = defaultdict(dict)
    for record in records:
        split = counts[record["class"]].setdefault(record["split"], {
            "samples": 0, "anomalies": 0, "by_generator": Counter(), "by_defect_type": Counter(), "by_entry": {}})
        for entry, stats in record.get("by_entry", {}).items():
            split["by_entry"].setdefault(entry, Counter()).update(stats)
        split["samples"] += record["samples"]
        split["anomalies"] += record["anomalies"]
        split["by_generator"].update(record["by_generator"])
        split["by_defect_type"].update(record["by_defect_type"])
    # Per-class facts the renderer judged from the data (a record of an older build lacks them).
    grayscale: dict[str, bool] = {}
    foreground: dict[str, str] = {}
    for record in records:
        grayscale[record["class"]] = grayscale.get(record["class"], True) and bool(record.get("grayscale", False))
        mode = record.get("foreground")
        if mode and foreground.get(record["class"], "given") == "given":  # a shard that estimated says how
            foreground[record["class"]] = mode
    for splits in counts.values():
        for split in splits.values():
            split["by_generator"] = dict(sorted(split["by_generator"].items()))
            split["by_defect_type"] = dict(sorted(split["by_defect_type"].items()))
            split["by_entry"] = {k: dict(sorted(v.items())) for k, v in
                                 sorted(split["by_entry"].items(), key=lambda kv: entry_order(kv[0]))}
    return {
        "name": name,
        "version": version,
        "data_hash": data_hash,
        "recipe_hash": recipe_hash,
        "source": source,
        "locations": dict(sorted(locations.items())),
        "shown_defects": {k: sorted(v) for k, v in sorted(shown_defects.items())},
        "versions": package_versions(),
        "total_samples": sum(r["samples"] for r in records),
        "counts": {k: dict(sorted(v.items())) for k, v in sorted(counts.items())},
        "classes": {name: {"grayscale": gray, **({"foreground": foreground[name]} if name in foreground else {})}
                    for name, gray in sorted(grayscale.items())},
        "shards": [{**{k: r[k] for k in ("path", "class", "split", "samples", "anomalies", "bytes", "sha256",
                                         "by_generator")}, "by_entry": r.get("by_entry", {})}
                   for r in records],
        "fallbacks": fallback_totals(records),
    }


def entry_order(name: str) -> int:
    """Sort key of a ``generate[i]`` entry name: its index (so generate[10] follows generate[9])."""
    return int(name[len("generate["):-1])


def fallback_totals(records: list[dict[str, Any]]) -> dict[str, int]:
    """Redraws and replaced sources over the whole build, from the shards' per-entry tallies."""
    totals: Counter[str] = Counter({"samples": 0, "redraws": 0, "redrawn": 0, "replaced_sources": 0})
    for record in records:
        for stats in record.get("by_entry", {}).values():
            totals.update({k: stats.get(k, 0) for k in totals})
    return dict(totals)


def fallback_lines(manifest: dict[str, Any]) -> list[str]:
    """What the redraw policy did, for the end of ``anomset build``: totals, then every entry where
    most samples needed another normal image than planned (the recipe asks too much of the class)."""
    totals = manifest.get("fallbacks") or {}
    synthetic = f" of {totals['samples']}" if "samples" in totals else ""
    lines = [f"redraws: {totals.get('redrawn', 0)}{synthetic} synthetic samples needed any "
             f"({totals.get('redraws', 0)} tries beyond the first); {totals.get('replaced_sources', 0)} made from "
             "another normal image than planned"]
    for cls, splits in manifest.get("counts", {}).items():
        for split, counts in splits.items():
            for entry, stats in counts.get("by_entry", {}).items():
                if stats.get("samples") and 2 * stats.get("replaced_sources", 0) > stats["samples"]:
                    lines.append(f"note: classes.{cls}.{entry} ({split}): {stats['replaced_sources']} of "
                                 f"{stats['samples']} samples needed another normal image; widen its params or "
                                 "lower min_visibility")
    return lines
