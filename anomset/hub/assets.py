"""Card images drawn from the shards: a preview grid and one sample row per generator (``assets/*.png``).

Deterministic: samples are taken in manifest order and PNGs are encoded with fixed settings, so the
same build gives byte-identical assets.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from anomset.dataset.contract import IMAGE_MEMBER, JSON_MEMBER, MASK_MEMBER
from anomset.dataset.files import encode_png, write_atomic
from anomset.dataset.reader import decode_image, decode_json, decode_mask, iter_built
from anomset.grid import PNG_COMPRESSION, arrange, overlay_tile
from anomset.sample import generator_label

ASSETS_DIR = "assets"
TILE = 128
GAP = 4
PER_CLASS = 4  # anomalies per class in the preview grid
PER_GENERATOR = 6  # samples in each generator's row
BACKGROUND = (255, 255, 255)


def write_assets(out_dir: Path | str, manifest: dict[str, Any]) -> dict[str, Any]:
    """Draw ``assets/preview.png`` and ``assets/samples-<generator>.png``; return their paths for the card."""
    out = Path(out_dir)
    wanted = {g for splits in manifest["counts"].values() for c in splits.values() for g in c["by_generator"]}
    grid: dict[str, list[np.ndarray]] = {c: [] for c in manifest["counts"]}
    rows: dict[str, list[np.ndarray]] = {g: [] for g in sorted(wanted)}
    # Open only shards that can still add a tile, choose from the json alone and decode only the
    # chosen pixels: most samples are never drawn.
    def useful(shard: dict[str, Any]) -> bool:
        return (len(grid.get(shard["class"], [])) < PER_CLASS and shard.get("anomalies", 1) > 0) or any(
            len(rows.get(g, [0] * PER_GENERATOR)) < PER_GENERATOR for g in shard.get("by_generator", wanted))

    for shard, key, members in iter_built(out, manifest, (IMAGE_MEMBER, MASK_MEMBER, JSON_MEMBER), useful):
        meta = decode_json(members, shard, key)
        cls, gen = meta.get("class", ""), generator_label(meta.get("generator", ""), meta.get("origin", ""))
        in_grid = meta.get("mask_area", 0) > 0 and len(grid.get(cls, [0] * PER_CLASS)) < PER_CLASS
        in_row = gen in rows and len(rows[gen]) < PER_GENERATOR
        if in_grid or in_row:
            tile = overlay_tile(decode_image(members, shard, key), decode_mask(members, shard, key), TILE)
            if in_grid:
                grid[cls].append(tile)
            if in_row:
                rows[gen].append(tile)
        if all(len(v) >= PER_CLASS for v in grid.values()) and all(len(v) >= PER_GENERATOR for v in rows.values()):
            break
    written: dict[str, Any] = {"preview": None, "generators": {}}
    keep = set()
    if any(grid.values()):
        tiles = [t for t in grid.values() if t]
        written["preview"] = _write_png(out, "preview.png", arrange(tiles, GAP, BACKGROUND))
        keep.add("preview.png")
    for gen, tiles in rows.items():
        if tiles:
            name = f"samples-{re.sub(r'[^A-Za-z0-9_-]', '_', gen)}.png"
            written["generators"][gen] = _write_png(out, name, arrange([tiles], GAP, BACKGROUND))
            keep.add(name)
    for stale in (out / ASSETS_DIR).glob("*.png"):
        if stale.name not in keep and (stale.name == "preview.png" or stale.name.startswith("samples-")):
            stale.unlink()
    return written


def _write_png(out: Path, name: str, rgb: np.ndarray) -> str:
    write_atomic(out / ASSETS_DIR / name, encode_png(rgb, PNG_COMPRESSION))
    return f"{ASSETS_DIR}/{name}"
