"""Card images drawn from the shards: a preview grid and one sample row per generator (``assets/*.png``).

Deterministic: samples are taken in manifest order and PNGs are encoded with fixed settings, so the
same build gives byte-identical assets.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from anomset.build.state import write_atomic

ASSETS_DIR = "assets"
TILE = 128
GAP = 4
PER_CLASS = 4  # anomalies per class in the preview grid
PER_GENERATOR = 6  # samples in each generator's row
_OVERLAY = np.array([255, 40, 40], np.float32)  # RGB red


def iter_samples(out_dir: Path, manifest: dict[str, Any]) -> Iterator[tuple[np.ndarray, np.ndarray, dict[str, Any]]]:
    """(image RGB, mask, json) of every sample, in manifest shard order and tar member order."""
    for shard in manifest["shards"]:
        with tarfile.open(out_dir / shard["path"]) as tar:
            parts: dict[str, dict[str, bytes]] = {}
            for member in tar:
                key, _, suffix = member.name.partition(".")
                data = tar.extractfile(member)
                if data is not None:
                    parts.setdefault(key, {})[suffix] = data.read()
        for key in sorted(parts):
            p = parts[key]
            if {"image.png", "mask.png", "json"} <= set(p):
                image = cv2.cvtColor(cv2.imdecode(np.frombuffer(p["image.png"], np.uint8), cv2.IMREAD_COLOR),
                                     cv2.COLOR_BGR2RGB)
                mask = cv2.imdecode(np.frombuffer(p["mask.png"], np.uint8), cv2.IMREAD_GRAYSCALE)
                yield image, mask, json.loads(p["json"])


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask tinted red and outlined, at TILE×TILE."""
    image = cv2.resize(image, (TILE, TILE), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, (TILE, TILE), interpolation=cv2.INTER_NEAREST) > 127
    out = image.astype(np.float32)
    out[mask] = 0.55 * out[mask] + 0.45 * _OVERLAY
    out = out.round().astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 0, 0), 1)
    return out


def tile_grid(tiles: list[list[np.ndarray]]) -> np.ndarray:
    """Rows of equal-size tiles on a white canvas with GAP pixels between them."""
    cols = max(len(r) for r in tiles)
    canvas = np.full((len(tiles) * (TILE + GAP) + GAP, cols * (TILE + GAP) + GAP, 3), 255, np.uint8)
    for y, row in enumerate(tiles):
        for x, tile in enumerate(row):
            top, left = GAP + y * (TILE + GAP), GAP + x * (TILE + GAP)
            canvas[top:top + TILE, left:left + TILE] = tile
    return canvas


def generator_name(meta: dict[str, Any]) -> str:
    """The name counts use: the synthesizer, else the origin (normal / real)."""
    return meta.get("generator") or meta.get("origin") or "unknown"


def write_assets(out_dir: Path | str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Draw ``assets/preview.png`` and ``assets/samples-<generator>.png``; return their paths for the card."""
    out = Path(out_dir)
    wanted = {g for splits in manifest["counts"].values() for c in splits.values() for g in c["by_generator"]}
    grid: dict[str, list[np.ndarray]] = {c: [] for c in manifest["counts"]}
    rows: dict[str, list[np.ndarray]] = {g: [] for g in sorted(wanted)}
    for image, mask, meta in iter_samples(out, manifest):
        cls, gen = meta.get("class", ""), generator_name(meta)
        if mask.any() and len(grid.get(cls, [0] * PER_CLASS)) < PER_CLASS:
            grid[cls].append(overlay(image, mask))
        if gen in rows and len(rows[gen]) < PER_GENERATOR:
            rows[gen].append(overlay(image, mask))
        if all(len(v) >= PER_CLASS for v in grid.values()) and all(len(v) >= PER_GENERATOR for v in rows.values()):
            break
    written: dict[str, Any] = {"preview": None, "generators": {}}
    keep = set()
    if any(grid.values()):
        written["preview"] = _write_png(out, "preview.png", tile_grid([t for t in grid.values() if t]))
        keep.add("preview.png")
    for gen, tiles in rows.items():
        if tiles:
            name = f"samples-{re.sub(r'[^A-Za-z0-9_-]', '_', gen)}.png"
            written["generators"][gen] = _write_png(out, name, tile_grid([tiles]))
            keep.add(name)
    for stale in (out / ASSETS_DIR).glob("*.png"):
        if stale.name not in keep and (stale.name == "preview.png" or stale.name.startswith("samples-")):
            stale.unlink()
    return written


def _write_png(out: Path, name: str, rgb: np.ndarray) -> str:
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    write_atomic(out / ASSETS_DIR / name, data.tobytes())
    return f"{ASSETS_DIR}/{name}"
