"""``anomset preview``: a labelled PNG grid of built samples, each beside its mask.

Each tile shows the sample's image with only the mask's outline drawn on it (the anomaly itself
stays visible) and, beside it, the mask. By default the PNG goes to the current folder
(``default_png``), outside the build folder, so looking at a build never changes what is published.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from anomset.dataset.contract import IMAGE_MEMBER, JSON_MEMBER, MASK_MEMBER
from anomset.dataset.files import encode_png
from anomset.dataset.reader import decode_image, decode_json, decode_mask, iter_tar, read_manifest
from anomset.errors import OutputError
from anomset.grid import OUTLINE, PNG_COMPRESSION, arrange, square_rows
from anomset.sample import GOOD, generator_label

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = (24, 24, 24)
FRAME_NORMAL, FRAME_ANOMALY = (70, 190, 90), (230, 60, 60)
GAP, LINE_H = 6, 15
PANEL_GAP = 2  # between a sample's image and its mask
CARD_PREVIEW = Path("assets") / "preview.png"  # the card's own preview (``--update-card``)


def default_png(out_dir: Path | str) -> Path:
    """``<build folder name>-preview.png`` in the current folder."""
    return Path(f"{Path(out_dir).resolve().name}-preview.png")


@dataclass(frozen=True)
class Chosen:
    shard: Path
    key: str
    meta: dict[str, Any]


def choose(out_dir: Path, manifest: dict[str, Any], class_name: str | None, split: str | None,
           count: int) -> list[Chosen]:
    """Up to ``count`` samples, the same every time: defect types take turns, each spread over its samples."""
    shards = [s for s in manifest.get("shards", [])
              if class_name in (None, s["class"]) and split in (None, s["split"])]
    if not shards:
        classes = sorted({s["class"] for s in manifest.get("shards", [])})
        raise OutputError(f"no samples for class {class_name or 'any'} and split {split or 'any'}; classes: "
                          f"{', '.join(classes)}", file=str(out_dir))
    groups: dict[str, dict[str, list[Chosen]]] = defaultdict(lambda: defaultdict(list))
    for shard in sorted(shards, key=lambda s: s["path"]):
        path = out_dir / shard["path"]
        for key, members in iter_tar(path, (JSON_MEMBER,)):
            meta = decode_json(members, path, key)
            groups[meta.get("class", "")][meta.get("defect_type", GOOD)].append(Chosen(path, key, meta))
    chosen = []
    classes = sorted(groups)
    for cls, n_class in zip(classes, share(count, [sum(map(len, groups[c].values())) for c in classes]),
                            strict=True):
        types = sorted(groups[cls], key=lambda t: (t != GOOD, t))  # a normal first, for comparison
        for defect, k in zip(types, share(n_class, [len(groups[cls][t]) for t in types]), strict=True):
            members = groups[cls][defect]
            chosen += [members[int((j + 0.5) * len(members) / k)] for j in range(k)]
    return chosen


def share(count: int, sizes: list[int]) -> list[int]:
    """``count`` slots dealt in turn to groups of the given sizes (a group never gets more than it has)."""
    taken = [0] * len(sizes)
    while sum(taken) < count and any(t < n for t, n in zip(taken, sizes, strict=True)):
        for i, n in enumerate(sizes):
            if taken[i] < n and sum(taken) < count:
                taken[i] += 1
    return taken


def load_pixels(chosen: list[Chosen]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB image, mask) of each chosen sample, reading each shard once."""
    wanted: dict[Path, set[str]] = defaultdict(set)
    for c in chosen:
        wanted[c.shard].add(c.key)
    pixels: dict[tuple[Path, str], tuple[np.ndarray, np.ndarray]] = {}
    for shard, keys in wanted.items():
        for key, members in iter_tar(shard, (IMAGE_MEMBER, MASK_MEMBER)):
            if key in keys:
                pixels[(shard, key)] = (decode_image(members, shard, key), decode_mask(members, shard, key))
    return [pixels[(c.shard, c.key)] for c in chosen]


def outlined_pair(image: np.ndarray, mask: np.ndarray, width: int) -> np.ndarray:
    """The image with the mask's outline only (its inside untouched), and beside it the mask; each ``width`` wide."""
    h, w = mask.shape
    height = max(1, round(width * h / w))
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if w > width else cv2.INTER_LINEAR)
    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    inside = (mask > 0).astype(np.uint8)
    # The outline is the mask's border ring: pixels inside it keep their values.
    ring = inside - cv2.erode(inside, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    outlined = image.copy()
    outlined[ring > 0] = OUTLINE
    shown_mask = np.repeat(np.where(inside > 0, 255, 0).astype(np.uint8)[..., None], 3, axis=2)
    gap = np.full((height, PANEL_GAP, 3), BACKGROUND, np.uint8)
    return np.hstack([outlined, gap, shown_mask])


def tile(image: np.ndarray, mask: np.ndarray, meta: dict[str, Any], width: int) -> np.ndarray:
    """One labelled cell: framed image (mask outlined) beside its mask, then two text lines
    (class / defect, split | origin)."""
    defect = meta.get("defect_type", GOOD)
    framed = cv2.copyMakeBorder(outlined_pair(image, mask, width), 2, 2, 2, 2, cv2.BORDER_CONSTANT,
                                value=FRAME_NORMAL if defect == GOOD else FRAME_ANOMALY)
    band = np.full((2 * LINE_H + 6, framed.shape[1], 3), BACKGROUND, np.uint8)
    made_by = generator_label(meta.get("generator", ""), meta.get("origin", ""))
    lines = [(f"{meta.get('class', '?')} / {defect}", (240, 240, 240)),
             (f"{meta.get('split', '?')} | {made_by}", (170, 170, 170))]
    for i, (text, color) in enumerate(lines):
        text = fit(text, framed.shape[1] - 6)
        cv2.putText(band, text, (3, LINE_H * (i + 1)), FONT, 0.42, color, 1, cv2.LINE_AA)
    return np.vstack([framed, band])


def fit(text: str, width: int, scale: float = 0.42) -> str:
    """``text`` cut (with '..') to fit ``width`` pixels."""
    while text and cv2.getTextSize(text, FONT, scale, 1)[0][0] > width:
        text = text[:-3] + ".." if len(text) > 3 else text[:-1]
    return text


def grid(tiles: list[np.ndarray], title: str) -> np.ndarray:
    """Tiles in a near-square grid under a title line."""
    tiled = arrange(square_rows(tiles), GAP, BACKGROUND)
    canvas = np.vstack([np.full((LINE_H + GAP, tiled.shape[1], 3), BACKGROUND, np.uint8), tiled])
    cv2.putText(canvas, fit(title, canvas.shape[1] - 2 * GAP, 0.5), (GAP, LINE_H + 2), FONT, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return canvas


def render_preview(out_dir: Path | str, class_name: str | None = None, split: str | None = None,
                   count: int = 16, tile_width: int = 160) -> tuple[np.ndarray, int]:
    """The preview grid as an RGB array, and how many samples it shows."""
    out = Path(out_dir)
    manifest = read_manifest(out)
    chosen = choose(out, manifest, class_name, split, count)
    tiles = [tile(image, mask, c.meta, tile_width) for c, (image, mask) in zip(chosen, load_pixels(chosen),
                                                                              strict=True)]
    title = (f"{manifest.get('name', '?')} {manifest.get('version', '')}  class {class_name or 'all'}  "
             f"split {split or 'all'}  ({len(chosen)} of {_total(manifest, class_name, split)} samples)")
    return grid(tiles, title), len(chosen)


def _total(manifest: dict[str, Any], class_name: str | None, split: str | None) -> int:
    return sum(s["samples"] for s in manifest.get("shards", [])
               if class_name in (None, s["class"]) and split in (None, s["split"]))


def write_preview(out_dir: Path | str, png: Path | str, class_name: str | None = None, split: str | None = None,
                  count: int = 16) -> int:
    """Render the preview and write it to ``png``; returns the number of samples shown."""
    picture, shown = render_preview(out_dir, class_name, split, count)
    png = Path(png)
    try:
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(encode_png(picture, PNG_COMPRESSION))
    except OSError as exc:
        raise OutputError(f"cannot write the preview: {exc.strerror}", file=str(png)) from None
    return shown
