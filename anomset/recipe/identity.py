"""A recipe's two identities: the data hash (what decides the bytes) and the recipe hash (all of it).

The **data spec** is the resolved recipe without its metadata (name, version, pretty name,
description, licence, hub) and without locations (the output folder and every component param that
names a place on disk, such as a source's ``root`` or a synthesizer's ``texture_dir``). Its hash, the
**data hash**, keys every random stream, the build state and the benchmark staleness check: a card
edit keeps the data, ``seed`` draws another dataset. What lives at a location is fingerprinted by the
build instead (``anomset.build.inputs``), so the same recipe over the same files gives the same bytes
on any machine. The **recipe hash** also covers the metadata: it changes with a card edit.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from anomset.registry import MASKS, SOURCES, SYNTHESIZERS, Registry

METADATA_KEYS = ("name", "version", "pretty_name", "description", "license", "hub")
"""Top-level keys that only change the card and the manifest, never a sample."""

OUTPUT_LOCATION_KEYS = ("dir",)


def location_params(resolved: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """``(dotted field, params dict, key)`` of every location param in a resolved recipe.

    Components declare theirs in ``LOCATION_PARAMS``: the source's ``root``, ``texture_dir`` of the
    texture synthesizers, and so on.
    """
    source = resolved["source"]
    yield from _located(SOURCES, source["type"], source["params"], "source.params")
    for class_name, plan in resolved["classes"].items():
        for index, entry in enumerate(plan.get("generate", [])):
            where = f"classes.{class_name}.generate[{index}]"
            yield from _located(SYNTHESIZERS, entry["synthesizer"], entry["params"], f"{where}.params")
            if entry.get("mask"):
                yield from _located(MASKS, entry["mask"]["strategy"], entry["mask"]["params"], f"{where}.mask.params")


def _located(registry: Registry, name: str, params: dict[str, Any], where: str
             ) -> Iterator[tuple[str, dict[str, Any], str]]:
    for key in registry.get(name).LOCATION_PARAMS:
        if key in params:
            yield f"{where}.{key}", params, key


def locations(resolved: dict[str, Any]) -> dict[str, str]:
    """Dotted field → folder of every location param that is set (``None`` means built in)."""
    return {field: str(params[key]) for field, params, key in location_params(resolved) if params[key] is not None}


def data_spec(resolved: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved recipe that decides the output bytes (see the module docstring)."""
    spec = _without_locations(resolved)
    for key in METADATA_KEYS:
        spec.pop(key, None)
    return spec


def data_hash(resolved: dict[str, Any]) -> str:
    """sha256 of the canonical data spec: the dataset's identity."""
    return _digest(data_spec(resolved))


def recipe_hash(resolved: dict[str, Any]) -> str:
    """sha256 of the resolved recipe without locations: data and metadata (changes with a card edit)."""
    return _digest(_without_locations(resolved))


def changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths (``classes.board.generate[0].count``) where two data specs differ, in order.

    Lists of plain values (a range, a class list) count as one field.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        changed = []
        for key in [*old, *(k for k in new if k not in old)]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in old or key not in new:
                changed.append(path)
            else:
                changed += changed_fields(old[key], new[key], path)
        return changed
    nested = isinstance(old, list) and any(isinstance(v, dict | list) for v in old)
    if nested and isinstance(new, list) and len(old) == len(new):
        pairs = enumerate(zip(old, new, strict=True))
        return [path for i, (a, b) in pairs for path in changed_fields(a, b, f"{prefix}[{i}]")]
    return [] if old == new else [prefix or "<recipe>"]


def _without_locations(resolved: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(resolved)
    for key in OUTPUT_LOCATION_KEYS:
        spec.get("output", {}).pop(key, None)
    if isinstance(spec.get("concepts"), dict):
        spec["concepts"].pop("dir", None)  # where concepts live, not what they are
    for _, params, key in list(location_params(spec)):
        params.pop(key)
    return spec


def _digest(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
