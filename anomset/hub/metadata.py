"""The card's YAML metadata: configs, splits, declared features, licenses, and an offline validator."""

from __future__ import annotations

import copy
from typing import Any

ALL_CONFIG = "all"
TASK_CATEGORIES = ["image-segmentation", "image-classification"]
TAGS = ["synthetic", "anomaly-detection", "industrial-inspection", "webdataset", "anomset"]
SIZE_CATEGORIES = ("n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "n>10M")
# Keys anomset recomputes on every render; a hand edit to them is overwritten (they must match the data).
OWNED_KEYS = ("configs", "dataset_info", "size_categories")

# Column names are what datasets derives from member names: everything after the key's first dot.
FEATURES: list[dict[str, Any]] = [
    {"name": "__key__", "dtype": "string"},
    {"name": "__url__", "dtype": "string"},
    {"name": "image.png", "dtype": "image"},
    {"name": "mask.png", "dtype": "image"},
    {"name": "cls", "dtype": "int64"},
    {"name": "json", "dtype": "json"},
]

# Licenses and card names of the public datasets anomset reads; their terms bind derived data too.
SOURCE_DATA: dict[str, tuple[str, str]] = {
    "mvtec_ad": ("cc-by-nc-sa-4.0", "MVTec AD"),
    "mvtec_loco": ("cc-by-nc-sa-4.0", "MVTec LOCO AD"),
    "visa": ("cc-by-4.0", "VisA"),
    "ksdd2": ("cc-by-nc-sa-4.0", "KolektorSDD2"),
}


def size_category(total: int) -> str:
    """The Hub's size_categories bucket for ``total`` samples."""
    for limit, label in zip((1_000, 10_000, 100_000, 1_000_000, 10_000_000), SIZE_CATEGORIES, strict=False):
        if total < limit:
            return label
    return SIZE_CATEGORIES[-1]


def licenses(resolved: dict[str, Any]) -> str | list[str]:
    """The user's license plus the source data's (a list only when they differ)."""
    found = [resolved.get("license") or "other"]
    source = resolved.get("source") or {}
    params = source.get("params") or {}
    extra = SOURCE_DATA.get(source.get("type", ""), ("", ""))[0] or params.get("license") or ""
    if extra and extra not in found:
        found.append(extra)
    return found[0] if len(found) == 1 else found


def source_datasets(resolved: dict[str, Any]) -> list[str]:
    """``source_datasets`` entries: ``original`` for procedural data, else ``extended|<source>``."""
    source = resolved.get("source") or {}
    kind = source.get("type", "")
    params = source.get("params") or {}
    if kind == "toy":
        return ["original"]
    if kind == "hf" and params.get("repo"):
        return [f"extended|{params['repo']}"]
    return [f"extended|{kind}"] if kind else ["original"]


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
        "features": copy.deepcopy(FEATURES),  # a shared object would be dumped as a YAML anchor
        "splits": [{"name": s, "num_examples": n, "num_bytes": b} for s, (n, b) in sorted(splits.items())],
    }


def metadata_problems(data: dict[str, Any]) -> list[str]:
    """What is wrong with card metadata, checked offline (the Hub's validate-yaml is unreachable).

    The structure is parsed by ``datasets`` itself, the same code ``load_dataset`` runs on the Hub's card.
    """
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    problems = []
    if not data.get("license"):
        problems.append("license is missing")
    for key in ("size_categories", "task_categories"):
        if isinstance(data.get(key), str):
            data = {**data, key: [data[key]]}
    if not set(data.get("size_categories") or [None]) <= set(SIZE_CATEGORIES):
        problems.append(f"size_categories must be one of {', '.join(SIZE_CATEGORIES)}")
    configs = data.get("configs") or []
    names = [c.get("config_name") for c in configs]
    if not configs or len(set(names)) != len(names):
        problems.append("configs must be a non-empty list with unique config_name")
    if sum(bool(c.get("default")) for c in configs) != 1:
        problems.append("exactly one config must be the default")
    infos = data.get("dataset_info")
    if not isinstance(infos, list):
        return [*problems, "dataset_info must be a list with one entry per config"]
    by_name = {i.get("config_name"): i for i in infos}
    for config in configs:
        info = by_name.get(config.get("config_name"))
        if info is None:
            problems.append(f"dataset_info has no entry for config {config.get('config_name')!r}")
            continue
        if [f.get("name") for f in info.get("features", [])] != [f["name"] for f in FEATURES]:
            problems.append(f"dataset_info[{config['config_name']}].features must be {[f['name'] for f in FEATURES]}")
        splits = sorted(d.get("split") for d in config.get("data_files", []))
        if splits != sorted(s.get("name") for s in info.get("splits", [])):
            problems.append(f"config {config['config_name']!r}: data_files splits differ from dataset_info splits")
    if problems:
        return problems
    try:
        card_data = DatasetCardData(**data)
        parsed = MetadataConfigs.from_dataset_card_data(card_data)
        infos_parsed = DatasetInfosDict.from_dataset_card_data(card_data)
    except Exception as exc:  # datasets raises several types; any of them means the card is unusable
        return [f"datasets cannot parse the metadata: {exc}"]
    if set(parsed) != set(names) or set(infos_parsed) != set(names):
        problems.append("datasets does not see every config")
    for name, info in infos_parsed.items():
        kinds = {k: type(v).__name__ for k, v in (info.features or {}).items()}
        if kinds.get("image.png") != "Image" or kinds.get("mask.png") != "Image":
            problems.append(f"config {name!r}: image.png/mask.png are not Image features ({kinds})")
    return problems
