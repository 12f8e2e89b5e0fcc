"""A recipe's two identities: the data hash (what decides the bytes) and the recipe hash (all of it).

The **data spec** is the resolved recipe without its metadata (name, version, pretty name,
description, licence, hub) and without locations (the output folder and every component param that
names a place on disk, such as a source's ``root``, a synthesizer's ``texture_dir`` or a model param
(``backbone``, ``model``) set to a local folder; a Hub id and its revision stay in). Its hash, the
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
from pathlib import Path
from typing import Any

from anomset.registry import MASKS, QUALITY_FILTERS, SOURCES, SYNTHESIZERS, Registry

METADATA_KEYS = ("name", "version", "pretty_name", "description", "license", "hub")
"""Top-level keys that only change the card and the manifest, never a sample."""

OUTPUT_LOCATION_KEYS = ("dir",)
CONCEPTS_MODEL_PARAMS = ("model", "cluster.backbone")
"""The ``concepts:`` section's models (its ``dir`` is a location of its own, fingerprinted by content)."""


def location_params(resolved: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """``(dotted field, params dict, key)`` of every location param in a resolved recipe.

    Components declare theirs in ``LOCATION_PARAMS`` (the source's ``root``, ``texture_dir`` of the
    texture synthesizers...) and ``MODEL_PARAMS`` (a ``backbone`` or ``model``: a location only when it
    names a local folder, see ``model_locations``).
    """
    for field, params, key, _ in _entries(resolved):
        yield field, params, key


_Entry = tuple[str, dict[str, Any], str, bool]  # field, params dict, key, names a model folder


def _entries(resolved: dict[str, Any]) -> Iterator[_Entry]:
    source = resolved["source"]
    yield from _located(SOURCES, source["type"], source["params"], "source.params")
    for class_name, plan in resolved["classes"].items():
        if plan.get("quality"):
            yield from _located(QUALITY_FILTERS, plan["quality"]["filter"], plan["quality"]["params"],
                                f"classes.{class_name}.quality.params")
        for index, entry in enumerate(plan.get("generate", [])):
            where = f"classes.{class_name}.generate[{index}]"
            yield from _located(SYNTHESIZERS, entry["synthesizer"], entry["params"], f"{where}.params")
            if entry.get("mask"):
                yield from _located(MASKS, entry["mask"]["strategy"], entry["mask"]["params"], f"{where}.mask.params")
            if entry.get("quality"):
                yield from _located(QUALITY_FILTERS, entry["quality"]["filter"], entry["quality"]["params"],
                                    f"{where}.quality.params")
    if isinstance(resolved.get("concepts"), dict):
        yield from _model_folders(resolved["concepts"], CONCEPTS_MODEL_PARAMS, "concepts")


def _located(registry: Registry, name: str, params: dict[str, Any], where: str) -> Iterator[_Entry]:
    component = registry.get(name)
    for key in component.LOCATION_PARAMS:
        if key in params:
            yield f"{where}.{key}", params, key, False
    yield from _model_folders(params, getattr(component, "MODEL_PARAMS", ()), where)


def _model_folders(params: dict[str, Any], dotted_keys: tuple[str, ...], where: str) -> Iterator[_Entry]:
    """The model params (``residual.backbone`` walks into ``residual``) whose value is a local folder."""
    for dotted in dotted_keys:
        *parents, key = dotted.split(".")
        holder: Any = params
        for parent in parents:
            holder = holder.get(parent) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and is_model_folder(holder.get(key)):
            yield f"{where}.{dotted}", holder, key, True


def is_model_folder(value: Any) -> bool:
    """Whether a model reference names a local folder (as the model loaders decide: it exists on disk)."""
    return isinstance(value, str) and bool(value) and Path(value).expanduser().is_dir()


def locations(resolved: dict[str, Any]) -> dict[str, str]:
    """Dotted field → folder of every location param that is set (``None`` means built in)."""
    return {field: str(params[key]) for field, params, key in location_params(resolved) if params[key] is not None}


def model_locations(resolved: dict[str, Any]) -> dict[str, str]:
    """Dotted field → folder of every model param set to a local folder (a subset of ``locations``)."""
    return {field: str(params[key]) for field, params, key, model in _entries(resolved) if model}


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
