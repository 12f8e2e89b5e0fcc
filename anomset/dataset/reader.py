"""Reading a built folder: its manifest and resolved recipe, one tar's samples in member order, decoded members."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from anomset.dataset.contract import IMAGE_MEMBER, JSON_MEMBER, MANIFEST, MASK_MEMBER, RECIPE_FILE
from anomset.errors import OutputError

Members = dict[str, bytes]


def read_manifest(out_dir: Path | str) -> dict[str, Any]:
    """Load ``manifest.json`` of a built folder, with a clear error if it is missing or broken."""
    path = Path(out_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputError("no manifest.json: not a finished anomset build", file=str(path),
                          fix="run anomset build first (a rerun resumes an interrupted build)") from None
    except ValueError:
        raise OutputError("manifest.json is not valid JSON", file=str(path), fix="rerun anomset build") from None


def read_resolved(out_dir: Path | str) -> dict[str, Any]:
    """The resolved recipe saved beside a build."""
    path = Path(out_dir) / RECIPE_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OutputError("no recipe.yaml: not a finished anomset build", file=str(path),
                          fix="run anomset build first") from None
    if not isinstance(data, dict) or "name" not in data:
        raise OutputError("recipe.yaml is not a resolved anomset recipe", file=str(path), fix="rerun anomset build")
    return data


def iter_tar(path: Path, suffixes: Collection[str] | None = None) -> Iterator[tuple[str, Members]]:
    """``(key, {suffix: bytes})`` per sample in member order, reading only ``suffixes`` (all when None).

    Members not read still appear, as ``b""``, so callers can check which a sample has.
    """
    key: str | None = None
    members: Members = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                sample, _, suffix = member.name.partition(".")
                if sample != key:
                    if key is not None:
                        yield key, members
                    key, members = sample, {}
                members.setdefault(suffix, b"")
                if (suffixes is None or suffix in suffixes) and member.isfile():
                    members[suffix] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise OutputError(f"shard is not a readable tar ({exc})", file=str(path),
                          fix="rerun anomset build to rewrite it") from None
    if key is not None:
        yield key, members


def iter_built(out_dir: Path | str, manifest: Mapping[str, Any] | None = None,
               suffixes: Collection[str] | None = None,
               wanted: Callable[[Mapping[str, Any]], bool] = lambda shard: True,
               ) -> Iterator[tuple[Path, str, Members]]:
    """``(shard, key, members)`` of every sample of a built folder, in manifest shard order.

    ``wanted`` sees each shard's manifest entry just before it is opened; shards it refuses are skipped.
    """
    out = Path(out_dir)
    for shard in (manifest or read_manifest(out))["shards"]:
        if not wanted(shard):
            continue
        path = out / shard["path"]
        for key, members in iter_tar(path, suffixes):
            yield path, key, members


def iter_decoded(out_dir: Path | str, manifest: Mapping[str, Any] | None = None
                 ) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """``(RGB image, mask, json)`` of every sample of a built folder, in manifest order."""
    for shard, key, members in iter_built(out_dir, manifest, (IMAGE_MEMBER, MASK_MEMBER, JSON_MEMBER)):
        yield decode_image(members, shard, key), decode_mask(members, shard, key), decode_json(members, shard, key)


def decode_image(members: Mapping[str, bytes], shard: Path, key: str) -> np.ndarray:
    """The sample's image as RGB uint8 (H×W×3)."""
    return cv2.cvtColor(_decode(members, IMAGE_MEMBER, cv2.IMREAD_COLOR, shard, key), cv2.COLOR_BGR2RGB)


def decode_mask(members: Mapping[str, bytes], shard: Path, key: str) -> np.ndarray:
    """The sample's mask as uint8 (H×W)."""
    return _decode(members, MASK_MEMBER, cv2.IMREAD_GRAYSCALE, shard, key)


def decode_json(members: Mapping[str, bytes], shard: Path, key: str) -> dict[str, Any]:
    """The sample's json metadata."""
    try:
        return json.loads(members.get(JSON_MEMBER) or b"")
    except ValueError:
        raise OutputError(f"sample {key} has invalid json", file=str(shard)) from None


def _decode(members: Mapping[str, bytes], suffix: str, flags: int, shard: Path, key: str) -> np.ndarray:
    data = members.get(suffix) or b""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
    if array is None:
        raise OutputError(f"sample {key} has an undecodable {suffix}", file=str(shard))
    return array
