"""The card's YAML metadata that makes ``load_dataset`` exact: configs, splits and declared features."""

from __future__ import annotations

from typing import Any

ALL_CONFIG = "all"

# Column names are what datasets derives from member names: everything after the key's first dot.
FEATURES: list[dict[str, Any]] = [
    {"name": "__key__", "dtype": "string"},
    {"name": "__url__", "dtype": "string"},
    {"name": "image.png", "dtype": "image"},
    {"name": "mask.png", "dtype": "image"},
    {"name": "cls", "dtype": "int64"},
    {"name": "json", "dtype": "json"},
]


def size_category(total: int) -> str:
    """The Hub's size_categories bucket for ``total`` samples."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if total < limit:
            return label
    return "n>10M"


def configs_and_info(manifest: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``configs`` (one per class plus ``all``, the default) and matching ``dataset_info`` entries."""
    counts: dict[str, dict[str, Any]] = manifest["counts"]
    shard_bytes: dict[tuple[str, str], int] = {}
    for shard in manifest["shards"]:
        pair = (shard["class"], shard["split"])
        shard_bytes[pair] = shard_bytes.get(pair, 0) + shard["bytes"]
    splits_present = sorted({s for c in counts.values() for s in c})
    configs: list[dict[str, Any]] = [{
        "config_name": ALL_CONFIG, "default": True,
        "data_files": [{"split": s, "path": f"data/*/{s}-*.tar"} for s in splits_present],
    }]
    infos: list[dict[str, Any]] = [_info(ALL_CONFIG, {
        s: (sum(c[s]["samples"] for c in counts.values() if s in c),
            sum(b for (_, sp), b in shard_bytes.items() if sp == s)) for s in splits_present})]
    for name, splits in counts.items():
        configs.append({"config_name": name,
                        "data_files": [{"split": s, "path": f"data/{name}/{s}-*.tar"} for s in sorted(splits)]})
        infos.append(_info(name, {s: (v["samples"], shard_bytes.get((name, s), 0)) for s, v in splits.items()}))
    return configs, infos


def _info(config: str, splits: dict[str, tuple[int, int]]) -> dict[str, Any]:
    return {
        "config_name": config,
        "features": FEATURES,
        "splits": [{"name": s, "num_examples": n, "num_bytes": b} for s, (n, b) in sorted(splits.items())],
    }
